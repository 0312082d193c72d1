// End to end without privileges: a generated pcap of mixed traffic is replayed through the
// Dispatcher into several overlapping recordings with real Sinks (files in a temp dir), and each
// resulting file is compared packet for packet (bytes, lengths, nanosecond timestamps) with what
// tshark selects from the same input with the equivalent display filter. tshark is a declared
// dependency (scripts/setup.sh installs it): without it this test fails, saying so.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>

#include "dispatch/dispatcher.h"
#include "dispatch/replay_source.h"
#include "packet_builder.h"
#include "pcap_file.h"
#include "sink/sink.h"
#include "temp_dir.h"

namespace recorder {
namespace {

namespace fs = std::filesystem;

std::string find_tshark() {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / "tshark";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

// Runs tshark -r input -Y filter -w output (nanosecond pcap, no reassembly); returns its exit
// status.
int run_tshark(const std::string& tshark, const fs::path& input, const std::string& filter,
               const fs::path& output) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl(tshark.c_str(), "tshark", "-n", "-r", input.c_str(), "-Y", filter.c_str(), "-o",
          "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-F", "nsecpcap", "-w",
          output.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

using test::TempDir;

// Mixed traffic: IPv4/IPv6, TCP/UDP/SCTP/ICMP/ICMPv6, with and without VLAN tags, several
// subnets and ports so the recordings below overlap.
std::vector<test::PcapRecord> mixed_traffic(size_t count) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> v4 = {"10.1.0.5", "10.1.7.9",    "10.2.0.1",
                                       "10.2.3.4", "192.168.1.1", "172.16.0.9"};
  const std::vector<std::string> v6 = {"fd00::1", "fd00:1::2", "2001:db8::5", "fe80::7"};
  const std::vector<uint16_t> ports = {53, 80, 443, 5353, 40000, 40001};
  const std::vector<uint8_t> protocols = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP};
  std::vector<test::PcapRecord> records;
  uint64_t ts = 1'763'770'000'000'000'000ull;
  for (size_t i = 0; i < count; ++i) {
    test::PacketSpec spec;
    const bool ipv6 = rng() % 3 == 0;
    const auto& pool = ipv6 ? v6 : v4;
    spec.source = pool[rng() % pool.size()];
    spec.destination = pool[rng() % pool.size()];
    spec.protocol = protocols[rng() % protocols.size()];
    if (ipv6 && spec.protocol == IPPROTO_ICMP) spec.protocol = IPPROTO_ICMPV6;
    spec.source_port = ports[rng() % ports.size()];
    spec.destination_port = ports[rng() % ports.size()];
    if (rng() % 4 == 0) spec.vlans.push_back({0x8100, static_cast<uint16_t>(1 + rng() % 100)});
    if (rng() % 10 == 0) spec.vlans.insert(spec.vlans.begin(), test::VlanTag{0x88a8, 7});
    spec.payload_length = rng() % 300;
    test::PcapRecord record;
    record.data = test::build_packet(spec);
    ts += 1 + rng() % 2'000'000;  // odd nanoseconds: precision is checked too
    record.timestamp_ns = ts;
    records.push_back(std::move(record));
  }
  return records;
}

struct Case {
  uint64_t id;
  std::vector<std::string> filters;  // Hubble text form
  std::string display_filter;        // what tshark selects for the same packets
  uint32_t snap_length = 0;
  uint64_t packet_limit = 0;
};

TEST(EndToEnd, ReplayThroughOverlappingRecordingsMatchesTshark) {
  const std::string tshark = find_tshark();
  ASSERT_FALSE(tshark.empty())
      << "tshark not found in PATH: it is a declared test dependency (scripts/setup.sh installs "
         "the Debian package tshark)";
  TempDir dir;
  const fs::path input = dir.path() / "input.pcap";
  const auto traffic = mixed_traffic(3000);
  test::write_pcap(input, traffic);

  const std::vector<Case> cases = {
      {1, {"10.1.0.0/16 0 any 0 TCP"}, "ip.src == 10.1.0.0/16 && tcp"},
      {2, {"any 0 any 53 UDP", "any 53 any 0 UDP"}, "udp.port == 53"},
      {3, {"fd00::/16 0 any 0 ANY"}, "ipv6.src == fd00::/16"},
      {4,
       {"any 0 any 0 ICMP", "any 0 any 0 ICMPv6", "10.0.0.0/8 0 10.2.0.0/16 0 ANY"},
       "icmp || icmpv6 || (ip.src == 10.0.0.0/8 && ip.dst == 10.2.0.0/16)",
       64},
      {5,
       {"any 0 any 443 ANY"},
       "tcp.dstport == 443 || udp.dstport == 443 || sctp.dstport == 443",
       0,
       40},
  };

  auto pool = sink::WriterPool::create({});
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  Dispatcher dispatcher;
  Router router(dispatcher);
  std::vector<std::shared_ptr<Recording>> recordings;
  for (const Case& c : cases) {
    RecordingSpec spec;
    for (const auto& text : c.filters) {
      auto f = parse_filter(text);
      ASSERT_TRUE(f.ok()) << f.error().message();
      spec.include.push_back(*f);
    }
    spec.snap_length = c.snap_length;
    spec.stop.packets = c.packet_limit;
    sink::SinkOptions options;
    options.path = dir.path() / ("recording" + std::to_string(c.id) + ".pcap");
    options.format = sink::FileFormat::kPcap;
    if (c.snap_length != 0) options.snap_length = c.snap_length;
    auto s = sink::Sink::open(**pool, options);
    ASSERT_TRUE(s.ok()) << s.error().message();
    recordings.push_back(std::make_shared<Recording>(c.id, std::move(spec), std::move(*s)));
    ASSERT_TRUE(router.add(recordings.back()).ok());
  }

  auto source = ReplaySource::open({.path = input});
  ASSERT_TRUE(source.ok()) << source.error().message();
  std::atomic<bool> stop{false};
  ASSERT_TRUE((*source)->run(dispatcher, stop).ok());
  EXPECT_EQ(dispatcher.counters().packets, traffic.size());

  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("recording " + std::to_string(c.id) + ": " + c.display_filter);
    router.remove(c.id);
    auto result = recordings[i]->finish();
    ASSERT_TRUE(result.ok()) << result.error().message();
    const RecordingStats stats = recordings[i]->stats();
    EXPECT_EQ(stats.packets_lost(), 0u);

    const fs::path expected_path = dir.path() / ("tshark" + std::to_string(c.id) + ".pcap");
    ASSERT_EQ(run_tshark(tshark, input, c.display_filter, expected_path), 0);
    auto expected = test::read_pcap(expected_path).records;
    if (c.packet_limit != 0) {
      ASSERT_GT(expected.size(), c.packet_limit) << "the limit must cut the selection";
      expected.resize(c.packet_limit);
      EXPECT_EQ(recordings[i]->pending_stop(), StopReason::kPacketLimit);
    }
    const auto got = test::read_pcap(result->path).records;
    ASSERT_GT(expected.size(), 10u) << "the traffic must exercise this filter";
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_EQ(stats.packets_captured, got.size());
    EXPECT_EQ(result->packets_written, got.size());
    uint64_t bytes = 0;
    for (size_t k = 0; k < got.size(); ++k) {
      const auto& want = expected[k];
      const size_t cut =
          c.snap_length != 0 ? std::min<size_t>(c.snap_length, want.data.size()) : want.data.size();
      ASSERT_EQ(got[k].timestamp_ns, want.timestamp_ns) << "packet " << k;
      ASSERT_EQ(got[k].original_length, want.original_length) << "packet " << k;
      ASSERT_EQ(got[k].data.size(), cut) << "packet " << k;
      ASSERT_TRUE(std::equal(got[k].data.begin(), got[k].data.end(), want.data.begin()))
          << "packet " << k;
      bytes += cut;
    }
    EXPECT_EQ(stats.bytes_captured, bytes);
    std::cout << "recording " << c.id << " (" << c.display_filter << "): " << got.size()
              << " packets identical to tshark's selection\n";
  }
}

}  // namespace
}  // namespace recorder
