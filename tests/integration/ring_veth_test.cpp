// Flight-recorder rings capturing real traffic on a veth pair with eBPF (privileged): a snapshot
// of one flow in one burst (IPv4 and IPv6, across chunk boundaries) equals, packet for packet
// and byte for byte, what tcpdump captured for that flow in that burst; rotation by time;
// retention by bytes, by age and by the free-disk floor (a small tmpfs); a disk that fills
// under a chunk (its unwritten packets lost, not captured); a kill -9 mid-chunk
// while traffic flows, then a restart on the same storage (the chunk repaired and re-indexed,
// its packets what tcpdump saw).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>

#include "common/wall_clock.h"
#include "daemon_fixture.h"
#include "netns.h"
#include "pcap_file.h"
#include "privileged.h"
#include "ring_fixture.h"
#include "service/convert.h"
#include "tcpdump.h"
#include "tmpfs.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;
using json = nlohmann::json;
using recorder::testing::Tcpdump;
using recorder::testing::unique_name;
using recorder::testing::VethNamespace;

json snapshot(Daemon& d, std::vector<std::string> args) {
  args.insert(args.begin(), {"--json", "snapshot"});
  auto r = ctl(d, args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  if (r.exit_code != 0) return json::object();
  return json::parse(r.output.substr(r.output.find('{')));
}

// Polls the ring until `done(info)` or 30 s.
template <typename Done>
pb::RingInfo poll_ring(Daemon& d, const std::string& name, Done done) {
  pb::RingInfo info;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  do {
    info = get_ring(d, name);
    if (done(info)) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return info;
}

TEST(RingVeth, SnapshotOfOneFlowInOneBurstEqualsTcpdumpAcrossChunksAndForIpv6) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("r"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host()});
  auto started = ctl(d, {"ring", "start", "veth", "any 0 any 0 ANY", "--max-size", "64MiB",
                         "--chunk-size", "64KiB"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  const fs::path reference = d.dir() / "tcpdump.pcap";
  Tcpdump tcpdump(net.host(), reference.string(), "udp", (d.dir() / "tcpdump.log").string());
  ASSERT_TRUE(tcpdump.ready());

  // Three bursts of three flows, quiet gaps between them.
  uint64_t burst_from[3], burst_to[3];
  for (int burst = 0; burst < 3; ++burst) {
    std::this_thread::sleep_for(300ms);
    burst_from[burst] = wall_clock_ns();
    // In two halves of ~60 KB (a short pause between them, far shorter than the quiet gaps):
    // the first fills a 64 KiB chunk, so the burst's packets span a chunk boundary.
    for (int half = 0; half < 2; ++half) {
      net.send_udp(false, 7001, 60, 400);
      net.send_udp(false, 7002, 60, 400);
      net.send_udp(true, 7003, 60, 300);
      if (half == 0) std::this_thread::sleep_for(100ms);
    }
    burst_to[burst] = wall_clock_ns();
  }
  std::this_thread::sleep_for(300ms);
  tcpdump.stop();
  const auto ref = read_pcap(reference.string()).records;
  ASSERT_EQ(ref.size(), 3u * 360) << "tcpdump missed packets";
  auto info = wait_for_ring_packets(d, "veth", ref.size());
  ASSERT_GE(info.stats().packets_captured(), ref.size());
  EXPECT_EQ(info.stats().packets_lost(), 0u);

  for (const std::string& filter :
       {net.host4() + " 0 " + net.peer4() + " 7002 UDP", net.host6() + " 0 any 7003 UDP"}) {
    // The middle burst, by --from/--to (quiet gaps on both sides).
    auto response = snapshot(d, {"veth", "--from", seconds_text(burst_from[1] - 100000000), "--to",
                                 seconds_text(burst_to[1] + 100000000), filter});
    ASSERT_TRUE(response.contains("recording")) << filter;
    const auto got = read_pcap(response["recording"]["file_path"]).records;
    // tcpdump's packets of that flow in that burst (its clock is not ours: the gaps decide).
    const auto want = select(ref, burst_from[1] - 100000000, burst_to[1] + 100000000, {filter});
    ASSERT_EQ(want.size(), 120u) << filter;
    ASSERT_EQ(got.size(), want.size()) << filter;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].data, want[i].data) << filter << " packet " << i;
      EXPECT_EQ(got[i].original_length, want[i].original_length);
    }
    // 360 packets of ~400 bytes per burst: the burst spans at least two 64 KiB chunks.
    std::string chunks;
    for (const auto& e : fs::directory_iterator(d.storage() / "rings" / "veth")) {
      chunks += e.path().filename().string() + " " +
                std::to_string(fs::is_regular_file(e.path()) ? fs::file_size(e.path()) : 0) + "\n";
    }
    EXPECT_GE(std::stoull(response["chunks_read"].get<std::string>()), 2u) << filter << "\n"
                                                                           << chunks;
  }
}

TEST(RingVeth, RotatesByTimeAndDeletesByBytesAndByAge) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("r"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host()});
  ASSERT_EQ(ctl(d, {"ring", "start", "bytes", "any 0 any 7101 UDP", "--max-size", "512KiB",
                    "--chunk-size", "64KiB"})
                .exit_code,
            0);
  ASSERT_EQ(ctl(d, {"ring", "start", "age", "any 0 any 7102 UDP", "--max-age", "2s",
                    "--chunk-duration", "500ms"})
                .exit_code,
            0);

  // Bytes: about 2.4 MB through a 512 KiB budget.
  net.send_udp(false, 7101, 6000, 360);
  auto bytes = poll_ring(d, "bytes", [](const pb::RingInfo& i) {
    return i.stats().packets_captured() >= 6000 && i.chunks_deleted() > 0 &&
           i.bytes() <= (512u << 10);
  });
  EXPECT_GE(bytes.stats().packets_captured(), 6000u);
  EXPECT_GT(bytes.chunks_deleted(), 0u);
  EXPECT_LE(bytes.bytes(), 512u << 10) << "over the budget";
  uint64_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(d.storage() / "rings" / "bytes")) {
    on_disk += fs::file_size(e.path());
  }
  EXPECT_LE(on_disk, (512u << 10) + (64u << 10) + 8192) << "disk use within budget + one chunk";

  // Age and time rotation: a burst, then one every 400 ms; the first burst's chunk goes once it
  // is older than 2 s, while the ring keeps what is newer.
  const uint64_t first_burst = wall_clock_ns();
  net.send_udp(false, 7102, 50, 200);
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(400ms);
    net.send_udp(false, 7102, 5, 200);
  }
  auto age = poll_ring(d, "age", [&](const pb::RingInfo& i) {
    return i.chunks_deleted() > 0 &&
           service::from_proto_timestamp(i.oldest()) > first_burst + 500000000;
  });
  EXPECT_GT(age.chunks_deleted(), 0u);
  EXPECT_GT(service::from_proto_timestamp(age.oldest()), first_burst + 500000000)
      << "the first burst is gone";
  EXPECT_GE(age.chunks(), 2u) << "rotation by time keeps several chunks of 500 ms";
  EXPECT_LT(
      service::from_proto_timestamp(age.newest()) - service::from_proto_timestamp(age.oldest()),
      4000000000u);
  // What is held can still be cut out: the last second's packets.
  auto recent = snapshot(d, {"age", "--last", "1s"});
  EXPECT_TRUE(recent.contains("recording"));
}

// What a ring's chunks and indexes take on disk now (allocated blocks, as du counts them; its
// state file ring.json aside). Files that vanish while they are listed count for nothing.
uint64_t ring_disk_use(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() == "ring.json") continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

// The invariant of the ring's accounting (ring.cpp, Ring::reserved_bytes): while traffic fills a
// small budget several times over, the chunks and indexes on disk never take more than the budget
// plus one chunk, at any moment sampled.
TEST(RingVeth, DiskUseNeverExceedsTheBudgetPlusOneChunkDuringAFastFill) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("r"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host()});
  constexpr uint64_t kBudget = 8u << 20, kChunk = 1u << 20;
  ASSERT_EQ(ctl(d, {"ring", "start", "fill", "any 0 any 7301 UDP", "--max-size", "8MiB",
                    "--chunk-size", "1MiB"})
                .exit_code,
            0);
  const fs::path dir = d.storage() / "rings" / "fill";
  std::atomic<bool> sending{true};
  std::thread sender([&] {
    net.send_udp(false, 7301, 24000, 1400);  // ~34 MB: the budget about 4 times over
    sending = false;
  });
  uint64_t highest = 0, samples = 0;
  while (sending) {
    highest = std::max(highest, ring_disk_use(dir));
    ++samples;
  }
  sender.join();
  auto info = poll_ring(d, "fill", [](const pb::RingInfo& i) {
    return i.stats().packets_captured() + i.stats().packets_lost() >= 24000;
  });
  highest = std::max(highest, ring_disk_use(dir));
  EXPECT_GT(info.chunks_deleted(), 15u) << "the fill wrapped the ring several times";
  // The kernel may drop on a loaded machine (a recording would too); the ring itself loses
  // nothing: it never drops for a rotation and its queue is a recording's.
  EXPECT_EQ(info.stats().loss().queue_packets(), 0u);
  EXPECT_GT(info.stats().packets_captured(), 12000u);
  EXPECT_GT(samples, 100u);
  EXPECT_LE(highest, kBudget + kChunk) << "disk use over the budget plus one chunk";
  std::cout << "ring disk use: highest " << highest << " bytes in " << samples
            << " samples (budget + chunk: " << kBudget + kChunk << "); captured "
            << info.stats().packets_captured() << ", lost " << info.stats().packets_lost()
            << " (queue " << info.stats().loss().queue_packets() << ")"
            << ", chunks deleted " << info.chunks_deleted() << "\n";
}

TEST(RingVeth, TheFreeDiskFloorDeletesOldChunksAndCaptureGoesOn) {
  RECORDER_REQUIRE_ROOT();
  SmallTmpfs disk("6m");
  ASSERT_TRUE(disk.mounted()) << disk.error();
  VethNamespace net(unique_name("r"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host(), "--min-free-disk", "2MiB"}, disk.path() / "storage");
  // A budget larger than the disk: only the floor can keep it.
  ASSERT_EQ(ctl(d, {"ring", "start", "floor", "any 0 any 7201 UDP", "--max-size", "1GiB",
                    "--chunk-size", "256KiB"})
                .exit_code,
            0);
  for (int round = 0; round < 4; ++round) {
    net.send_udp(false, 7201, 1500, 1200);  // ~1.8 MB each
    std::this_thread::sleep_for(200ms);
  }
  auto info = poll_ring(d, "floor", [](const pb::RingInfo& i) {
    return i.stats().packets_captured() + i.stats().packets_lost() >= 6000 &&
           i.chunks_deleted() > 0;
  });
  EXPECT_GT(info.chunks_deleted(), 0u);
  EXPECT_EQ(info.state(), pb::RING_STATE_RUNNING);
  EXPECT_GE(disk.free_bytes(), 2u << 20) << "below the floor";
  // The newest traffic is there (a small snapshot: it is written to the same full disk).
  std::this_thread::sleep_for(300ms);
  const uint64_t before_last = wall_clock_ns();
  net.send_udp(false, 7201, 100, 1200);
  auto last = wait_for_ring_packets(d, "floor", info.stats().packets_captured() + 100);
  EXPECT_EQ(last.state(), pb::RING_STATE_RUNNING);
  auto recent = snapshot(d, {"floor", "--from", seconds_text(before_last)});
  ASSERT_TRUE(recent.contains("recording"));
  EXPECT_EQ(read_pcap(recent["recording"]["file_path"]).records.size(), 100u);
}

// A disk that fills under a chunk being written: the packets the chunk took but could not write
// are counted as lost to writes, not as captured. Captured equals what the chunk files hold,
// captured + lost what was sent, and a snapshot (through the chunks' indexes) reads exactly the
// packets held.
TEST(RingVeth, PacketsAChunkCouldNotWriteAreLostNotCaptured) {
  RECORDER_REQUIRE_ROOT();
  SmallTmpfs disk("4m");
  ASSERT_TRUE(disk.mounted()) << disk.error();
  VethNamespace net(unique_name("r"));
  ASSERT_TRUE(net.ok());
  // No free-space floor (the fixture default): the chunk's writes themselves run into ENOSPC.
  Daemon d({"--interfaces", net.host()}, disk.path() / "storage");
  ASSERT_EQ(ctl(d, {"ring", "start", "full", "any 0 any 7401 UDP", "--max-size", "1GiB",
                    "--chunk-size", "1MiB"})
                .exit_code,
            0);
  // Leave ~200 KiB free: the chunk being written takes part of the burst below, then ENOSPC.
  const fs::path ballast = disk.path() / "ballast";
  {
    const uint64_t size = disk.free_bytes() - (200u << 10);
    std::ofstream out(ballast, std::ios::binary);
    const std::string block(64u << 10, 'x');
    for (uint64_t written = 0; written < size; written += block.size()) {
      out.write(block.data(),
                static_cast<std::streamsize>(std::min<uint64_t>(block.size(), size - written)));
    }
    ASSERT_TRUE(out.good()) << "ballast";
  }
  constexpr uint64_t kSent = 1000;
  net.send_udp(false, 7401, kSent, 1000);  // ~1 MB: far more than the room left
  auto info = poll_ring(d, "full", [](const pb::RingInfo& i) {
    return i.stats().packets_captured() + i.stats().packets_lost() >= kSent;
  });
  ASSERT_EQ(ctl(d, {"ring", "stop", "full"}).exit_code, 0);
  info = get_ring(d, "full");
  const auto& stats = info.stats();
  EXPECT_GT(stats.loss().write_packets(), 0u) << "the disk did not fill";
  EXPECT_GT(stats.packets_captured(), 0u);
  EXPECT_EQ(stats.packets_captured() + stats.packets_lost(), kSent);
  uint64_t in_files = 0;
  for (const auto& e : fs::directory_iterator(d.storage() / "rings" / "full")) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("chunk-") && !name.ends_with(".idx")) {
      in_files += read_pcap(e.path().string()).records.size();
    }
  }
  EXPECT_EQ(stats.packets_captured(), in_files) << "captured is what the chunk files hold";

  // With room again, a snapshot of the whole ring reads exactly the packets held.
  fs::remove(ballast);
  auto all = snapshot(d, {"full"});
  ASSERT_TRUE(all.contains("recording"));
  EXPECT_EQ(read_pcap(all["recording"]["file_path"]).records.size(), in_files);
}

// A kill -9 while the ring's chunk is being written and packets are still arriving, then a
// restart on the same storage. The expected set, honestly: a first batch that the ring holds on
// disk before the kill (a snapshot waits for that) must all survive; of a second batch that the
// ring captured but did not necessarily write before the kill, only what reached the file can
// survive, so the repaired chunk must be tcpdump's
// packets in order and byte for byte up to some point at or after the first batch's end. A
// snapshot of the range before the kill equals the repaired chunk's own contents, and after the
// restart the ring goes on capturing into a new chunk.
TEST(RingVeth, Kill9MidChunkWithTrafficThenRestartRepairsTheChunkAndItEqualsTcpdump) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("r"));
  ASSERT_TRUE(net.ok());
  TempDir storage_dir("ring-kill");
  const fs::path storage = storage_dir.path() / "storage";
  const fs::path ring_dir = storage / "rings" / "crash";
  const std::string filter = "any 0 any 7301 UDP";
  const fs::path reference = storage_dir.path() / "tcpdump.pcap";
  Tcpdump tcpdump(net.host(), reference.string(), "udp dst port 7301",
                  (storage_dir.path() / "tcpdump.log").string());
  ASSERT_TRUE(tcpdump.ready());

  constexpr int kFirst = 400, kInFlight = 3000, kAfter = 200;
  uint64_t before_kill = 0;
  {
    Daemon d({"--interfaces", net.host()}, storage);
    auto started =
        ctl(d, {"ring", "start", "crash", filter, "--max-size", "256MiB", "--chunk-size", "64MiB"});
    ASSERT_EQ(started.exit_code, 0) << started.output;
    net.send_udp(false, 7301, kFirst, 700);
    ASSERT_GE(wait_for_ring_packets(d, "crash", kFirst).stats().packets_captured(), 0u + kFirst);
    ASSERT_EQ(ctl(d, {"snapshot", "crash"}).exit_code, 0);  // the first batch is on disk
    // The second: captured (the ring counted it), but nothing waits for it to reach the disk.
    net.send_udp(false, 7301, kInFlight, 700);
    wait_for_ring_packets(d, "crash", kFirst + kInFlight);
    before_kill = wall_clock_ns();
    d.kill_hard();
  }
  bool partial = false;
  for (const auto& e : fs::directory_iterator(ring_dir)) {
    partial = partial || e.path().filename().string().ends_with(".partial");
  }
  ASSERT_TRUE(partial) << "the kill left no partial chunk";

  Daemon d({"--interfaces", net.host()}, storage);
  const std::string repair_log = d.wait_for_log("repaired chunk");
  ASSERT_NE(repair_log.find("repaired chunk"), std::string::npos) << repair_log;
  auto info = poll_ring(d, "crash",
                        [](const pb::RingInfo& i) { return i.state() == pb::RING_STATE_RUNNING; });
  ASSERT_EQ(info.state(), pb::RING_STATE_RUNNING);
  std::vector<fs::path> chunks;
  for (const auto& e : fs::directory_iterator(ring_dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("chunk-") && !name.ends_with(".idx") && !name.ends_with(".partial")) {
      chunks.push_back(e.path());
    }
  }
  std::sort(chunks.begin(), chunks.end());
  ASSERT_FALSE(chunks.empty()) << "no repaired chunk";
  EXPECT_TRUE(fs::exists(ring_dir / (chunks[0].stem().string() + ".idx")))
      << "the repaired chunk is indexed";
  const auto repaired = read_pcap(chunks[0].string()).records;

  net.send_udp(false, 7301, kAfter, 700);
  wait_for_ring_packets(d, "crash", kAfter);
  std::this_thread::sleep_for(300ms);
  tcpdump.stop();
  const auto seen = read_pcap(reference.string()).records;
  ASSERT_EQ(seen.size(), 0u + kFirst + kInFlight + kAfter) << "tcpdump missed packets";

  // The repaired chunk: tcpdump's packets in order, the whole first batch and a prefix of the
  // second (at most the packets in flight lost).
  ASSERT_GE(repaired.size(), 0u + kFirst);
  ASSERT_LE(repaired.size(), 0u + kFirst + kInFlight);
  for (size_t i = 0; i < repaired.size(); ++i) {
    ASSERT_EQ(repaired[i].data, seen[i].data) << "packet " << i;
    EXPECT_EQ(repaired[i].original_length, seen[i].original_length) << "packet " << i;
  }
  std::cout << "kill -9: " << repaired.size() - kFirst << " of " << kInFlight
            << " packets in flight reached the file; "
            << repair_log.substr(repair_log.find("repaired chunk")) << "\n";

  // Through the rebuilt index: the range before the kill is the repaired chunk; everything is
  // that chunk followed by what came after the restart.
  auto before = snapshot(d, {"crash", "--to", seconds_text(before_kill), filter});
  ASSERT_TRUE(before.contains("recording"));
  expect_same_packets(read_pcap(before["recording"]["file_path"]).records, repaired);
  auto all = snapshot(d, {"crash"});
  ASSERT_TRUE(all.contains("recording"));
  const auto everything = read_pcap(all["recording"]["file_path"]).records;
  ASSERT_EQ(everything.size(), repaired.size() + kAfter);
  for (size_t i = 0; i < everything.size(); ++i) {
    const auto& want =
        i < repaired.size() ? seen[i] : seen[kFirst + kInFlight + (i - repaired.size())];
    ASSERT_EQ(everything[i].data, want.data) << "packet " << i;
  }
}

}  // namespace
}  // namespace recorder::test
