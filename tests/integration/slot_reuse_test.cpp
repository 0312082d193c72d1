// Rule-slot reuse under traffic, through a real recorderd capturing with eBPF on a veth pair
// (label privileged): fillers hold 255 of the 256 rule slots, so every recording started during
// the churn gets the one slot the previous recording just freed. Each cycle starts a "flood"
// recording on traffic that flows all along, stops it while its packets are still in the
// per-CPU buffers (the reader picks quiet buffers up every 100 ms), and at once starts a
// "counted" recording on its own port, which therefore gets the flood recording's slot. Traffic
// for a counted recording is sent only while it runs, and it is stopped once it has accounted for
// all of them (captured or lost), so its lifetime holds exactly its packets.
//
// Checked against one tcpdump on the same interface for the whole test:
// - every file holds only packets that matches() (src/dispatch/filter.h) says one of its
//   recording's filters accepts;
// - fillers and counted recordings: captured + lost equals the number of tcpdump's packets its
//   filters accept (and with nothing lost, the very same packets byte for byte); flood
//   recordings (traffic crosses their start and stop on purpose): captured + lost at most that.
//
// How it was shown to catch the bug: with the generation check in Dispatcher::on_packet
// disabled (the `packet.rule_generation - table->slot_epoch[slot]` test made always false), 8 of
// the 10 counted recordings' files held flood packets (dport 9100-9103) and counted more than
// tcpdump saw, in each of 2 runs, and the test failed; with the check restored it passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "netns.h"
#include "pcap_file.h"
#include "privileged.h"
#include "tcpdump.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;
using recorder::testing::Tcpdump;
using recorder::testing::unique_name;
using recorder::testing::VethNamespace;

constexpr int kFillers = 4;
constexpr int kFillerFilters[kFillers] = {64, 64, 64, 63};  // 255 of RECORDER_MAX_RULES slots
constexpr int kCycles = 10;
constexpr uint16_t kFloodPort = 9100;  // flood traffic goes to 9100..9103 in turn
constexpr uint16_t kCountedPort = 9200;
constexpr int kCountedPackets = 40;

enum class Kind { kFiller, kFlood, kCounted };

struct Tracked {
  Kind kind;
  std::string name;
  std::vector<Filter> filters;
  uint64_t id = 0;
  pb::RecordingInfo final_info;
};

void add_udp(pb::StartRequest& request, const std::string& destination, uint16_t port) {
  pb::Filter* f = request.mutable_recording()->add_include();
  f->set_destination_cidr(destination);
  f->set_destination_port(port);
  f->set_protocol(pb::PROTOCOL_UDP);
}

// Starts `request` and records its filters (as the product parses them) in `out`.
::testing::AssertionResult start(Daemon& d, const pb::StartRequest& request, Tracked& out) {
  for (const pb::Filter& f : request.recording().include()) {
    auto parsed = make_filter(f.source_cidr(), f.source_port(), f.destination_cidr(),
                              f.destination_port(), f.protocol());
    if (!parsed) return ::testing::AssertionFailure() << parsed.error().message();
    out.filters.push_back(*parsed);
  }
  grpc::ClientContext ctx;
  pb::StartResponse started;
  const grpc::Status s = d.recordings().Start(&ctx, request, &started);
  if (!s.ok()) return ::testing::AssertionFailure() << out.name << ": " << s.error_message();
  out.id = started.id();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult stop(Daemon& d, Tracked& t) {
  grpc::ClientContext ctx;
  pb::StopRequest request;
  request.set_id(t.id);
  pb::RecordingInfo info;
  const grpc::Status s = d.recordings().Stop(&ctx, request, &info);
  if (!s.ok()) return ::testing::AssertionFailure() << t.name << ": " << s.error_message();
  t.final_info = wait_until_stopped(d, t.id, 10s);
  if (t.final_info.state() != pb::RECORDING_STATE_STOPPED) {
    return ::testing::AssertionFailure() << t.name << " did not stop";
  }
  return ::testing::AssertionSuccess();
}

bool accepts(const std::vector<Filter>& filters, const PacketInfo& packet) {
  return std::any_of(filters.begin(), filters.end(),
                     [&](const Filter& f) { return matches(f, packet); });
}

TEST(EbpfSlotReuse, ChurnOnAFullRuleTableDeliversOnlyMatchingPacketsAndCountsEveryOne) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("s"));
  ASSERT_TRUE(net.ok());
  TempDir tmp("prt-slots");
  const std::string reference = (tmp.path() / "tcpdump.pcap").string();
  Tcpdump tcpdump(net.host(), reference, "ip or ip6", (tmp.path() / "tcpdump.log").string());
  ASSERT_TRUE(tcpdump.ready());
  Daemon d({"--interfaces", net.host(), "--max-filters", "64"});
  // Neighbour discovery done before the churn, so every counted datagram reaches the wire.
  ASSERT_EQ(recorder::testing::sh("ping -c 1 -W 2 " + net.peer4() +
                                  " >/dev/null && ping -c 1 -W 2 " + net.peer6() + " >/dev/null"),
            0);

  std::vector<Tracked> tracked;
  tracked.reserve(kFillers + 2 * kCycles);
  // Fillers: distinct filters for traffic that is never sent. They take slots 0..254.
  for (int r = 0; r < kFillers; ++r) {
    pb::StartRequest request;
    for (int j = 0; j < kFillerFilters[r]; ++j) {
      add_udp(request, "10.250." + std::to_string(r) + "." + std::to_string(j + 1) + "/32",
              static_cast<uint16_t>(30000 + 64 * r + j));
    }
    tracked.push_back({Kind::kFiller, "filler " + std::to_string(r), {}});
    ASSERT_TRUE(start(d, request, tracked.back()));
  }

  {  // One slot is left: a recording that needs two is refused.
    pb::StartRequest two;
    add_udp(two, net.peer4() + "/32", 1);
    add_udp(two, net.peer4() + "/32", 2);
    grpc::ClientContext ctx;
    pb::StartResponse refused;
    EXPECT_EQ(d.recordings().Start(&ctx, two, &refused).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  // The flood, all along: 8 datagrams to each of 9100..9103 in turn. A jthread: stopped and
  // joined on every way out of the test.
  std::jthread flood([&](std::stop_token stop_token) {
    for (uint16_t n = 0; !stop_token.stop_requested(); ++n) {
      net.send_udp(false, static_cast<uint16_t>(kFloodPort + n % 4), 8, 200);
      std::this_thread::sleep_for(1ms);
    }
  });

  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    // A flood recording takes the free slot, sees flood packets, and is stopped under traffic.
    pb::StartRequest flood_request;
    add_udp(flood_request, net.peer4() + "/32", static_cast<uint16_t>(kFloodPort + cycle % 4));
    tracked.push_back({Kind::kFlood, "flood " + std::to_string(cycle), {}});
    Tracked& flooded = tracked.back();
    ASSERT_TRUE(start(d, flood_request, flooded));
    std::this_thread::sleep_for(150ms);
    ASSERT_TRUE(stop(d, flooded));

    // At once, a counted recording on the same slot; IPv4 and IPv6 in turn.
    const bool v6 = cycle % 2 == 1;
    const uint16_t port = static_cast<uint16_t>(kCountedPort + cycle);
    pb::StartRequest counted_request;
    add_udp(counted_request, v6 ? net.peer6() + "/128" : net.peer4() + "/32", port);
    tracked.push_back({Kind::kCounted, "counted " + std::to_string(cycle), {}});
    Tracked& counted = tracked.back();
    ASSERT_TRUE(start(d, counted_request, counted));
    net.send_udp(v6, port, kCountedPackets, 120);
    wait_until_accounted(d, counted.id, kCountedPackets, 10s);
    ASSERT_TRUE(stop(d, counted));
  }
  flood.request_stop();
  flood.join();
  for (Tracked& t : tracked) {
    if (t.kind == Kind::kFiller) {
      ASSERT_TRUE(stop(d, t));
    }
  }
  tcpdump.stop();
  ASSERT_EQ(tcpdump.summary("packets dropped by kernel"), 0) << "the reference is incomplete";
  const PcapContents seen = read_pcap(reference);
  std::vector<PacketInfo> seen_info;
  for (const PcapRecord& r : seen.records) {
    seen_info.push_back(decode_packet(r.data, LinkType::kEthernet));
  }

  for (const Tracked& t : tracked) {
    SCOPED_TRACE(t.name);
    const auto& stats = t.final_info.stats();
    const PcapContents file = read_pcap(t.final_info.file_path());
    ASSERT_EQ(file.records.size(), stats.packets_captured());
    int foreign = 0;
    std::string first_foreign;
    std::vector<std::vector<uint8_t>> recorded;
    for (const PcapRecord& r : file.records) {
      const PacketInfo info = decode_packet(r.data, LinkType::kEthernet);
      if (!accepts(t.filters, info) && foreign++ == 0) {
        first_foreign = "a packet to port " + std::to_string(info.destination_port);
      }
      recorded.push_back(r.data);
    }
    EXPECT_EQ(foreign, 0) << "packets its filters do not accept, e.g. " << first_foreign;

    std::vector<std::vector<uint8_t>> expected;
    for (size_t i = 0; i < seen.records.size(); ++i) {
      if (accepts(t.filters, seen_info[i])) expected.push_back(seen.records[i].data);
    }
    const uint64_t accounted = stats.packets_captured() + stats.packets_lost();
    if (t.kind == Kind::kFlood) {
      EXPECT_GT(stats.packets_captured(), 0u);  // it really had packets in flight
      EXPECT_LE(accounted, expected.size());
      continue;
    }
    EXPECT_EQ(accounted, expected.size())
        << stats.packets_captured() << " captured, " << stats.packets_lost() << " lost";
    if (t.kind == Kind::kCounted) {
      EXPECT_GT(expected.size(), size_t{kCountedPackets / 2});
    }
    if (stats.packets_lost() == 0) {
      std::sort(recorded.begin(), recorded.end(), FrameLess());
      std::sort(expected.begin(), expected.end(), FrameLess());
      EXPECT_TRUE(recorded == expected) << "not the packets tcpdump saw";
    }
  }
  EXPECT_EQ(d.terminate(), 0);
}

}  // namespace
}  // namespace recorder::test
