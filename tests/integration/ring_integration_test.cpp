// Flight-recorder rings through a real recorderd in --replay mode (no privileges, no BPF): the
// Rings service and recorderctl's ring/snapshot commands, rotation into chunk files, snapshots
// checked packet by packet and byte for byte against the replayed file filtered with matches(),
// rings of the config file, and a kill -9 mid-chunk followed by a restart (chunk repaired,
// index rebuilt, snapshot still right).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon_fixture.h"
#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "packet_builder.h"
#include "pcap_file.h"
#include "ring_fixture.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr uint64_t kStart = 1700000000000000000ull;

// Three flows (IPv4 UDP, IPv4 TCP, IPv6 UDP) interleaved, one packet every `gap_ns`.
std::vector<PcapRecord> three_flows(int rounds, uint64_t start_ns, uint64_t gap_ns = 1000000) {
  std::vector<PcapRecord> out;
  uint64_t ts = start_ns;
  for (int i = 0; i < rounds; ++i) {
    const std::vector<PacketSpec> specs = {
        {.source = "10.0.0.1",
         .destination = "10.0.0.2",
         .protocol = IPPROTO_UDP,
         .source_port = 4000,
         .destination_port = 53,
         .payload_length = static_cast<size_t>(20 + i % 40)},
        {.source = "10.0.1.5",
         .destination = "192.168.1.10",
         .protocol = IPPROTO_TCP,
         .source_port = 50000,
         .destination_port = 443,
         .payload_length = static_cast<size_t>(i % 3 == 0 ? 1200 : 0)},
        {.source = "fd00::1",
         .destination = "fd00::2",
         .protocol = IPPROTO_UDP,
         .source_port = 5353,
         .destination_port = 5353,
         .payload_length = 40},
    };
    for (const auto& spec : specs) {
      PcapRecord r;
      r.timestamp_ns = ts;
      ts += gap_ns;
      r.data = build_packet(spec);
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<std::string> chunk_files(const fs::path& ring_dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(ring_dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("chunk-") && !name.ends_with(".idx")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(RingIntegration, RecorderctlRingLifecycleRotationAndSnapshotsByteForByte) {
  const auto traffic = three_flows(600, kStart);
  TempDir input("ring-in");
  const std::string file = (input.path() / "in.pcap").string();
  write_pcap(file, traffic);
  Daemon d({"--replay", file, "--replay-start-after", "0", "--replay-rate", "0"});
  // No ring yet while the replay runs would lose it: start the ring, then replay again below.
  auto started = ctl(d, {"ring", "start", "web", "any 0 any 0 ANY", "--max-size", "64MiB",
                         "--chunk-size", "64KiB"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  EXPECT_NE(started.output.find("state:        running"), std::string::npos) << started.output;
  EXPECT_EQ(get_ring(d, "web").state(), pb::RING_STATE_RUNNING);
  d.kill_hard();

  // A daemon whose replay starts once the ring runs (it restarts from its state at boot).
  // Paced, as traffic is: rotation hands over to a chunk the ring opened ahead.
  Daemon replay({"--replay", file, "--replay-start-after", "0", "--replay-rate", "1000"},
                d.storage());
  auto info = wait_for_ring_packets(replay, "web", traffic.size());
  ASSERT_EQ(info.stats().packets_captured(), traffic.size());
  EXPECT_EQ(info.stats().packets_lost(), 0u);
  EXPECT_EQ(info.oldest().seconds() * 1000000000ull + info.oldest().nanos(), kStart);
  auto list = ctl(replay, {"ring", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("web"), std::string::npos);

  // Stop: every chunk closed, each a complete file that with its index stays within 64 KiB.
  auto stopped = ctl(replay, {"ring", "stop", "web"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  EXPECT_NE(stopped.output.find("captured:     " + std::to_string(traffic.size()) + " packets"),
            std::string::npos)
      << stopped.output;
  EXPECT_NE(stopped.output.find("lost:         0 packets (kernel 0, queue 0, write 0)\n"),
            std::string::npos)
      << stopped.output;
  EXPECT_NE(stopped.output.find("filter:       any 0 any 0 ANY\n"), std::string::npos)
      << stopped.output;
  const fs::path ring_dir = replay.storage() / "rings" / "web";
  const auto chunks = chunk_files(ring_dir);
  ASSERT_GE(chunks.size(), 5u) << "rotation by size";
  std::vector<PcapRecord> all;
  for (size_t i = 0; i < chunks.size(); ++i) {
    auto c = read_pcap(chunks[i]);
    const fs::path index = ring_dir / (fs::path(chunks[i]).stem().string() + ".idx");
    EXPECT_TRUE(fs::exists(index));
    if (i + 1 < chunks.size()) {
      EXPECT_GE(fs::file_size(chunks[i]), 32u << 10) << "rotated early";
    }
    EXPECT_LE(fs::file_size(chunks[i]) + fs::file_size(index), 64u << 10) << chunks[i];
    all.insert(all.end(), c.records.begin(), c.records.end());
  }
  expect_same_packets(all, traffic);

  // Snapshots: one flow in a time range across chunk boundaries, IPv6, all in a range.
  const uint64_t from = traffic[300].timestamp_ns, to = traffic[1500].timestamp_ns;
  for (const std::vector<std::string>& filters :
       {std::vector<std::string>{"10.0.0.1 4000 10.0.0.2 53 UDP"},
        std::vector<std::string>{"fd00::/64 0 any 0 ANY"},
        std::vector<std::string>{"any 0 192.168.1.10 443 TCP", "10.0.0.1 0 any 0 UDP"},
        std::vector<std::string>{}}) {
    std::vector<std::string> args = {"--json",           "snapshot", "web",           "--from",
                                     seconds_text(from), "--to",     seconds_text(to)};
    args.insert(args.end(), filters.begin(), filters.end());
    auto snap = ctl(replay, args);
    ASSERT_EQ(snap.exit_code, 0) << snap.output;
    auto response = json::parse(snap.output.substr(snap.output.find('{')));
    const std::string path = response["recording"]["file_path"];
    const auto want = select(traffic, from, to, filters);
    expect_same_packets(read_pcap(path).records, want);
    EXPECT_EQ(response["recording"]["stats"]["packets_captured"].get<std::string>(),
              std::to_string(want.size()));
    if (filters.size() == 1 && filters[0].starts_with("10.0.0.1 ")) {
      // The index keeps a narrow snapshot's reading close to what it returns.
      EXPECT_LT(std::stoull(response["packets_examined"].get<std::string>()), 2 * want.size());
    }
  }

  // -o downloads it; the snapshot is a recording like any other: listed, deletable.
  const fs::path out = replay.dir() / "snap.pcap";
  auto fetched = ctl(replay, {"snapshot", "web", "--from", "2023-11-14T22:13:20.3Z", "--to",
                              seconds_text(to), "-o", out.string()});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;
  expect_same_packets(read_pcap(out.string()).records, select(traffic, kStart + 300000000, to, {}));
  auto recordings = ctl(replay, {"list"});
  EXPECT_NE(recordings.output.find("web_"), std::string::npos) << recordings.output;

  // A range the ring no longer (or never) held says what it holds.
  auto outside = ctl(replay, {"snapshot", "web", "--from", "1600000000", "--to", "1600000001"});
  EXPECT_NE(outside.exit_code, 0);
  EXPECT_NE(outside.output.find("holds packets from 2023-11-14T22:13:20"), std::string::npos)
      << outside.output;

  auto deleted = ctl(replay, {"ring", "delete", "web"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_FALSE(fs::exists(ring_dir));
  auto gone = ctl(replay, {"ring", "status", "web"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.output.find("no such ring"), std::string::npos) << gone.output;
}

TEST(RingIntegration, BadRingsAndSnapshotsAreRefusedNamingTheField) {
  TempDir input("ring-in");
  const std::string file = (input.path() / "in.pcap").string();
  write_pcap(file, three_flows(1, kStart));
  Daemon d({"--replay", file, "--replay-start-after", "1"});
  auto stub =
      pb::Rings::NewStub(grpc::CreateChannel(d.server(), grpc::InsecureChannelCredentials()));
  auto start = [&](const std::function<void(pb::RingConfig&)>& edit) {
    pb::StartRingRequest request;
    auto* ring = request.mutable_ring();
    ring->set_name("ok");
    ring->add_include();
    ring->set_max_bytes(64u << 20);
    edit(*ring);
    grpc::ClientContext c;
    pb::RingInfo info;
    return stub->Start(&c, request, &info);
  };
  const std::vector<std::pair<std::function<void(pb::RingConfig&)>, std::string>> cases = {
      {[](pb::RingConfig& r) { r.set_name("Bad_Name"); }, "ring.name"},
      {[](pb::RingConfig& r) { r.clear_include(); }, "ring.include"},
      {[](pb::RingConfig& r) { r.mutable_include(0)->set_source_port(70000); },
       "ring.include[0].source_port"},
      {[](pb::RingConfig& r) { r.set_max_bytes(0); }, "ring.max_bytes, ring.max_age"},
      {[](pb::RingConfig& r) { r.set_chunk_bytes(40u << 20); }, "ring.chunk_bytes"},
      {[](pb::RingConfig& r) { r.set_chunk_bytes(1000); }, "ring.chunk_bytes"},
      {[](pb::RingConfig& r) { r.mutable_chunk_duration()->set_nanos(1000); },
       "ring.chunk_duration"},
      {[](pb::RingConfig& r) { r.mutable_max_age()->set_seconds(-1); }, "ring.max_age"},
      {[](pb::RingConfig& r) { r.set_max_capture_length(1u << 30); }, "ring.max_capture_length"},
      {[](pb::RingConfig& r) { r.set_format(static_cast<pb::FileFormat>(9)); }, "ring.format"},
  };
  for (const auto& [edit, field] : cases) {
    auto status = start(edit);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_TRUE(status.error_message().starts_with(field)) << status.error_message();
  }
  ASSERT_TRUE(start([](pb::RingConfig&) {}).ok());
  EXPECT_EQ(start([](pb::RingConfig&) {}).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  auto snapshot = [&](const std::function<void(pb::SnapshotRequest&)>& edit) {
    pb::SnapshotRequest request;
    request.set_name("ok");
    edit(request);
    grpc::ClientContext c;
    pb::SnapshotResponse response;
    return stub->Snapshot(&c, request, &response);
  };
  auto both = snapshot([](pb::SnapshotRequest& r) {
    r.mutable_last()->set_seconds(60);
    r.mutable_from()->set_seconds(1);
  });
  EXPECT_EQ(both.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(both.error_message().starts_with("last")) << both.error_message();
  auto reversed = snapshot([](pb::SnapshotRequest& r) {
    r.mutable_from()->set_seconds(20);
    r.mutable_to()->set_seconds(10);
  });
  EXPECT_TRUE(reversed.error_message().starts_with("from")) << reversed.error_message();
  auto filter = snapshot(
      [](pb::SnapshotRequest& r) { r.add_include()->set_destination_cidr("10.0.0.0/99"); });
  EXPECT_TRUE(filter.error_message().starts_with("include[0].destination_cidr"))
      << filter.error_message();
  auto unknown = snapshot([](pb::SnapshotRequest& r) { r.set_name("nope"); });
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  auto empty = snapshot([](pb::SnapshotRequest&) {});
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(empty.error_message().find("holds no packets"), std::string::npos);

  // recorderctl checks its own flags before asking.
  auto bad_time = run_command(
      {RECORDERCTL_PATH, "--server", d.server(), "snapshot", "ok", "--from", "yesterday"}, d.dir());
  EXPECT_NE(bad_time.exit_code, 0);
  EXPECT_NE(bad_time.output.find("--from"), std::string::npos) << bad_time.output;
}

TEST(RingIntegration, ConfigRingStartsAtBootAndAKill9MidChunkIsRepairedAndReindexed) {
  const auto first = three_flows(200, kStart);
  const auto second = three_flows(100, kStart + 10000000000ull);
  TempDir input("ring-in");
  const std::string file1 = (input.path() / "a.pcap").string();
  const std::string file2 = (input.path() / "b.pcap").string();
  write_pcap(file1, first);
  write_pcap(file2, second);
  const fs::path config = input.path() / "recorderd.json";
  {
    std::ofstream out(config);
    out << R"({"rings": [{"name": "all", "filters": ["any 0 any 0 ANY"], "max-size": "64MiB",
                         "chunk-size": "1MiB", "format": "pcapng"}]})";
  }
  TempDir storage_dir("ring-st");
  const fs::path storage = storage_dir.path() / "storage";
  const fs::path ring_dir = storage / "rings" / "all";
  {
    Daemon d({"--config", config.string(), "--replay", file1, "--replay-start-after", "0"},
             storage);
    auto info = wait_for_ring_packets(d, "all", first.size());
    ASSERT_EQ(info.stats().packets_captured(), first.size());
    // A snapshot waits until the chunk being written holds them all on disk.
    auto snap = ctl(d, {"snapshot", "all"});
    ASSERT_EQ(snap.exit_code, 0) << snap.output;
    d.kill_hard();  // mid-chunk: the chunk is still the sink's partial file
  }
  bool partial = false;
  for (const auto& e : fs::directory_iterator(ring_dir)) {
    partial = partial || e.path().filename().string().ends_with(".partial");
  }
  ASSERT_TRUE(partial) << "the kill left no partial chunk";
  // What a kill leaves when it comes right after the maintenance opened a chunk ahead and before
  // the writer wrote its header: an empty partial chunk. It held no packet: it goes.
  const fs::path empty_ahead = ring_dir / ".chunk-000000000099.pcapng.partial";
  { std::ofstream touch(empty_ahead); }

  Daemon d({"--config", config.string(), "--replay", file2, "--replay-start-after", "0"}, storage);
  EXPECT_NE(d.wait_for_log("repaired chunk").find("repaired chunk"), std::string::npos) << d.log();
  EXPECT_FALSE(fs::exists(empty_ahead));
  for (const auto& e : fs::directory_iterator(ring_dir)) {
    EXPECT_FALSE(e.path().filename().string().starts_with("chunk-000000000099"))
        << e.path() << ": an empty chunk was kept";
  }
  auto info = wait_for_ring_packets(d, "all", second.size());
  EXPECT_EQ(info.state(), pb::RING_STATE_RUNNING);
  EXPECT_EQ(info.stats().packets_captured(), second.size());
  EXPECT_TRUE(fs::exists(ring_dir / "chunk-000000000001.idx")) << "the repaired chunk is indexed";
  std::vector<PcapRecord> both = first;
  both.insert(both.end(), second.begin(), second.end());
  for (const std::vector<std::string>& filters :
       {std::vector<std::string>{}, std::vector<std::string>{"fd00::1 5353 fd00::2 5353 UDP"}}) {
    std::vector<std::string> args = {"--json", "snapshot", "all"};
    args.insert(args.end(), filters.begin(), filters.end());
    auto snap = ctl(d, args);
    ASSERT_EQ(snap.exit_code, 0) << snap.output;
    auto response = json::parse(snap.output.substr(snap.output.find('{')));
    expect_same_packets(read_pcap(response["recording"]["file_path"]).records,
                        select(both, 0, UINT64_MAX, filters));
  }
}

}  // namespace
}  // namespace recorder::test
