// Privileged integration tests (label privileged): recorderd capturing with eBPF on a veth pair
// in a namespace the test creates, driven through gRPC and recorderctl; and disk-full runs with
// the storage on a small tmpfs. Without root they skip (or fail under
// RECORDER_REQUIRE_PRIVILEGED=1); namespaces, veths and mounts are removed also on failure.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon_fixture.h"
#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "netns.h"
#include "packet_builder.h"
#include "pcap_file.h"
#include "privileged.h"
#include "stuck_disk.h"
#include "tmpfs.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;
using recorder::testing::add_foreign_filter;
using recorder::testing::hook_programs;
using recorder::testing::HookPrograms;
using recorder::testing::sh;
using recorder::testing::sh_output;
using recorder::testing::unique_name;
using recorder::testing::VethNamespace;

fs::path big_packets(const fs::path& dir) {
  std::vector<PcapRecord> records;
  for (int i = 0; i < 64; ++i) {
    PcapRecord r;
    r.timestamp_ns = 1700000000000000000ull + i;
    r.data = build_packet({.source = "10.0.0.1",
                           .destination = "10.0.0.2",
                           .protocol = IPPROTO_UDP,
                           .source_port = 1000,
                           .destination_port = 2000,
                           .payload_length = 1400});
    records.push_back(std::move(r));
  }
  fs::path path = dir / "big.pcap";
  write_pcap(path.string(), records);
  return path;
}

uint64_t get_stats_packets(Daemon& d, uint64_t id) {
  grpc::ClientContext ctx;
  pb::GetRequest request;
  request.set_id(id);
  pb::RecordingInfo info;
  if (!d.recordings().Get(&ctx, request, &info).ok()) return 0;
  return info.stats().packets_captured();
}

pb::RecordRequest start_any(uint64_t packets = 0) {
  pb::RecordRequest request;
  auto* start = request.mutable_start();
  start->add_include();  // any, any protocol
  start->mutable_stop_condition()->set_packets_captured_count(packets);
  return request;
}

TEST(DiskFull, EnospcStopsWithReasonDiskFullAndAValidFile) {
  RECORDER_REQUIRE_ROOT();
  SmallTmpfs disk("3M");
  ASSERT_TRUE(disk.mounted()) << disk.error();
  TempDir tmp;
  auto input = big_packets(tmp.path());
  // No free-space floor (the fixture default): the writes themselves run into ENOSPC.
  Daemon d({"--replay", input.string(), "--replay-loop", "--replay-rate", "20000",
            "--replay-start-after", "0"},
           disk.path() / "storage");
  grpc::ClientContext ctx;
  auto stream = d.recorder().Record(&ctx);
  ASSERT_TRUE(stream->Write(start_any()));
  pb::RecordResponse response, stopped;
  while (stream->Read(&response)) {
    if (response.has_stopped()) stopped = response;
  }
  auto status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  ASSERT_TRUE(stopped.has_stopped());
  EXPECT_EQ(stopped.stopped().stop_reason(), pb::STOP_REASON_DISK_FULL)
      << stopped.stopped().stop_message();
  const auto& file = stopped.stopped().filesink().file_path();
  ASSERT_FALSE(file.empty());
  auto contents = read_pcap(file);  // throws if libpcap cannot read it
  EXPECT_GT(contents.records.size(), 100u);
  // Captured = in the file; what the disk refused is counted as lost to writes.
  EXPECT_EQ(contents.records.size(), stopped.stopped().stats().packets_captured());
  EXPECT_GT(stopped.stopped().stats().loss().write_packets(), 0u);
  EXPECT_EQ(stopped.stopped().stats().packets_lost(),
            stopped.stopped().stats().loss().write_packets() +
                stopped.stopped().stats().loss().queue_packets());

  // The daemon keeps serving.
  grpc::ClientContext lctx;
  pb::ListResponse list;
  ASSERT_TRUE(d.recordings().List(&lctx, pb::ListRequest(), &list).ok());
  EXPECT_EQ(list.recordings_size(), 1);
}

TEST(DiskFull, FreeSpaceFloorStopsRecordingsAndRefusesStarts) {
  RECORDER_REQUIRE_ROOT();
  SmallTmpfs disk("6M");
  ASSERT_TRUE(disk.mounted()) << disk.error();
  TempDir tmp;
  auto input = big_packets(tmp.path());
  Daemon d({"--replay", input.string(), "--replay-loop", "--replay-rate", "5000",
            "--replay-start-after", "0", "--min-free-disk", "3MiB"},
           disk.path() / "storage");
  pb::StartRequest req;
  req.mutable_recording()->add_include();
  grpc::ClientContext c1;
  pb::StartResponse started;
  ASSERT_TRUE(d.recordings().Start(&c1, req, &started).ok());
  const pb::RecordingInfo info = wait_until_stopped(d, started.id(), 20s);
  ASSERT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_DISK_FULL);
  EXPECT_EQ(read_pcap(info.file_path()).records.size(), info.stats().packets_captured());
  grpc::ClientContext c2;
  pb::StartResponse refused;
  auto status = d.recordings().Start(&c2, req, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("min-free-disk"), std::string::npos);
}

// A disk that stops completing writes (a frozen filesystem: every write blocks in the kernel, as
// on a hung device): stopping a recording gives up after --write-timeout with a write-error
// reason instead of waiting forever, and during the shutdown that then waits again, a second
// SIGTERM ends recorderd at once. The partial files are repaired at the next start.
TEST(StuckDisk, StopGivesUpWithAWriteErrorAndASecondSigtermExitsAtOnce) {
  RECORDER_REQUIRE_ROOT();
  StuckDisk disk;
  ASSERT_TRUE(disk.ok()) << disk.error();
  TempDir tmp;
  auto input = big_packets(tmp.path());
  auto d = std::make_unique<Daemon>(
      std::vector<std::string>{"--replay", input.string(), "--replay-loop", "--replay-rate", "1000",
                               "--replay-start-after", "0", "--write-timeout", "3s"},
      disk.path() / "storage");
  auto start = [&] {
    grpc::ClientContext ctx;
    pb::StartRequest request;
    *request.mutable_recording() = start_any().start();
    pb::StartResponse started;
    EXPECT_TRUE(d->recordings().Start(&ctx, request, &started).ok());
    return started.id();
  };
  // Two recordings (files are created before the disk hangs), with packets on their way to it.
  const uint64_t first = start();
  const uint64_t second = start();
  for (int i = 0; i < 1000 && get_stats_packets(*d, second) < 100; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_GE(get_stats_packets(*d, second), 100u);

  {
    StuckDisk::Suspension hung(disk);  // thawed when the scope ends, also on failure
    ASSERT_TRUE(hung.ok());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);  // before: it never returned
    pb::StopRequest stop;
    stop.set_id(first);
    pb::RecordingInfo info;
    auto status = d->recordings().Stop(&ctx, stop, &info);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
    EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_WRITE_ERROR) << info.stop_message();
    EXPECT_NE(info.stop_message().find("did not complete the writes within 3000 ms"),
              std::string::npos)
        << info.stop_message();

    // The shutdown waits on the second recording's writes; a second SIGTERM does not wait.
    const pid_t pid = d->pid();
    ::kill(pid, SIGTERM);
    d->wait_for_log("shutting down");
    ::kill(pid, SIGTERM);
    EXPECT_NE(d->wait_for_log("exiting now").find("second Terminated: exiting now"),
              std::string::npos)
        << d->log();
  }  // thawed: the process, whose writer was stuck in the kernel, can finish exiting
  const int status = d->terminate(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2)
      << "exit status 2 after a second SIGTERM; wait status " << status;
  d.reset();

  // The next start repairs what the hung disk left behind.
  Daemon again({"--replay", input.string(), "--replay-start-after", "1"}, disk.path() / "storage");
  EXPECT_NE(again.log().find("recovered partial file"), std::string::npos) << again.log();
}

// With no free-space floor (--min-free-disk 0), a recording's writer reserves space ahead of its
// writes only when the disk has room to spare, and gives back what a reservation that ran out
// took: a second recording on a nearly full 64 MiB disk still starts (its metadata needs a block).
TEST(DiskFull, ReservingAheadLeavesTheLastBlocksToOtherRecordings) {
  RECORDER_REQUIRE_ROOT();
  StuckDisk disk;  // a 64 MiB ext4 image, never frozen here
  ASSERT_TRUE(disk.ok()) << disk.error();
  TempDir tmp;
  auto input = big_packets(tmp.path());
  Daemon d({"--replay", input.string(), "--replay-loop", "--replay-rate", "1000",
            "--replay-start-after", "0"},
           disk.path() / "storage");
  auto start = [&](grpc::Status& status) {
    grpc::ClientContext ctx;
    pb::StartRequest request;
    *request.mutable_recording() = start_any().start();
    pb::StartResponse started;
    status = d.recordings().Start(&ctx, request, &started);
    return started.id();
  };
  grpc::Status status;
  const uint64_t first = start(status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // The first recording's writer has written (and reserved ahead) before the second starts.
  auto written = [&] {
    uintmax_t bytes = 0;
    for (const auto& entry : fs::directory_iterator(disk.path() / "storage")) {
      if (entry.is_regular_file()) bytes += entry.file_size();
    }
    return bytes;
  };
  for (int i = 0; i < 1500 && written() < (1u << 20); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_GE(written(), 1u << 20) << "the first recording wrote less than 1 MiB";
  ASSERT_GT(get_stats_packets(d, first), 0u);
  start(status);
  EXPECT_TRUE(status.ok()) << status.error_message() << "\n" << d.log();
}

TEST(EbpfIntegration, RecordsVethTrafficThroughTheDaemonAndDetachesOnSigterm) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host()});
  EXPECT_NE(d.log().find(net.host()), std::string::npos) << "attached interface not logged";
  EXPECT_EQ(hook_programs(net.host()).ingress(), 1);
  EXPECT_EQ(hook_programs(net.host()).egress(), 1);

  // Hubble-style stream: UDP to the peer, exactly 30 packets.
  grpc::ClientContext ctx;
  auto stream = d.recorder().Record(&ctx);
  pb::RecordRequest request;
  auto* start = request.mutable_start();
  auto* f = start->add_include();
  f->set_destination_cidr(net.peer4());
  f->set_destination_port(9999);
  f->set_protocol(pb::PROTOCOL_UDP);
  start->mutable_stop_condition()->set_packets_captured_count(30);
  ASSERT_TRUE(stream->Write(request));
  pb::RecordResponse response, stopped;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_running());
  std::thread traffic([&] {
    net.send_udp(false, 9998, 10, 200);  // not selected (other port)
    net.send_udp(false, 9999, 40, 200);
  });
  while (stream->Read(&response)) {
    if (response.has_stopped()) stopped = response;
  }
  traffic.join();
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_TRUE(stopped.has_stopped());
  EXPECT_EQ(stopped.stopped().stop_reason(), pb::STOP_REASON_PACKET_LIMIT);
  auto contents = read_pcap(stopped.stopped().filesink().file_path());
  ASSERT_EQ(contents.records.size(), 30u);
  for (const auto& r : contents.records) {
    PacketInfo info = decode_packet(r.data, LinkType::kEthernet);
    EXPECT_EQ(info.protocol, IPPROTO_UDP);
    EXPECT_EQ(info.destination_port, 9999);
  }

  // recorderctl record with a packet limit, ICMP both ways (ping).
  std::string filter = net.host4() + " 0 " + net.peer4() + " 0 ICMP";
  CommandResult rec;
  std::thread ctl([&] {
    rec = run_command({RECORDERCTL_PATH, "--server", d.server(), "--json", "record", filter,
                       "--bidirectional", "--packet-limit", "6"},
                      d.dir());
  });
  std::this_thread::sleep_for(500ms);
  sh("ping -c 5 -i 0.05 -q " + net.peer4() + " >/dev/null");
  ctl.join();
  ASSERT_EQ(rec.exit_code, 0) << rec.output;
  auto result = nlohmann::json::parse(rec.output.substr(rec.output.find('{')));
  std::string path = result["stopped"]["filesink"]["file_path"];
  auto icmp = read_pcap(path);
  ASSERT_EQ(icmp.records.size(), 6u);
  for (const auto& r : icmp.records) {
    EXPECT_EQ(decode_packet(r.data, LinkType::kEthernet).protocol, IPPROTO_ICMP);
  }

  // A running recording at SIGTERM: stopped with a valid file; tc filters gone; exit 0.
  grpc::ClientContext sctx;
  pb::StartRequest sreq;
  sreq.mutable_recording()->add_include();
  pb::StartResponse sresp;
  ASSERT_TRUE(d.recordings().Start(&sctx, sreq, &sresp).ok());
  net.send_udp(false, 7, 5, 64);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(d.terminate(), 0);
  EXPECT_EQ(hook_programs(net.host()).recorder_total(), 0);
  int files = 0;
  for (const auto& e : fs::directory_iterator(d.storage())) {
    std::string name = e.path().filename().string();
    if (name.starts_with(".")) {
      EXPECT_TRUE(name.ends_with(".json")) << "partial file left: " << name;
      continue;
    }
    EXPECT_NO_THROW(read_pcap(e.path().string()));
    ++files;
  }
  EXPECT_EQ(files, 3);
}

TEST(EbpfIntegration, ManyStartStopCyclesKeepFdsMemoryAndTcFiltersAtBaseline) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("c"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host()});
  // Traffic all along, so every recording's kernel rules really match and emit.
  // A jthread: stopped and joined on every way out of the test, failed assertions included.
  std::jthread traffic([&](std::stop_token stop) {
    while (!stop.stop_requested()) net.send_udp(false, 9999, 20, 200);
  });
  pb::StartRequest req;
  auto* f = req.mutable_recording()->add_include();
  f->set_destination_cidr(net.peer4());
  f->set_protocol(pb::PROTOCOL_UDP);
  ASSERT_NO_FATAL_FAILURE(start_stop_delete(d, req, 20));  // warm-up: thread pools, arenas
  const HookPrograms hooks = hook_programs(net.host());
  const size_t fds = fd_count(d.pid());
  const size_t rss = rss_kib(d.pid());
  ASSERT_NO_FATAL_FAILURE(start_stop_delete(d, req, 200));
  traffic.request_stop();
  traffic.join();
  const size_t fds_after = fd_count(d.pid());
  const size_t rss_after = rss_kib(d.pid());
  std::cout << "fds " << fds << " -> " << fds_after << ", RSS " << rss << " KiB -> " << rss_after
            << " KiB\n";
  EXPECT_EQ(hooks.ingress(), 1);
  EXPECT_EQ(hooks.egress(), 1);
  const HookPrograms hooks_after = hook_programs(net.host());
  EXPECT_EQ(hooks_after.ingress(), 1) << "tc programs changed over 200 cycles";
  EXPECT_EQ(hooks_after.egress(), 1) << "tc programs changed over 200 cycles";
  EXPECT_LE(fds_after, fds + 2);
  EXPECT_LE(rss_after, rss + 16 * 1024) << "RSS grew by more than 16 MiB over 200 cycles";
  EXPECT_EQ(d.terminate(), 0);
  EXPECT_EQ(hook_programs(net.host()).recorder_total(), 0);
}

// Packets the kernel cannot classify (here: frames cut inside their TCP header, sent by trafgen
// from the namespace) are counted per interface and direction, shown by `recorderctl list` and
// `status`, and logged; a portless TCP filter still records them.
TEST(EbpfIntegration, UnclassifiedPacketsAreCountedShownAndLogged) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("u"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host()});
  pb::StartRequest req;
  auto* f = req.mutable_recording()->add_include();
  f->set_source_cidr(net.peer4());
  f->set_protocol(pb::PROTOCOL_TCP);
  grpc::ClientContext ctx;
  pb::StartResponse started;
  ASSERT_TRUE(d.recordings().Start(&ctx, req, &started).ok());

  auto cut = test::build_packet({.source = net.peer4(),
                                 .destination = net.host4(),
                                 .protocol = IPPROTO_TCP,
                                 .destination_port = 80});
  cut.resize(14 + 20 + 2);
  std::string conf = "{ ";
  for (size_t i = 0; i < cut.size(); ++i) conf += (i ? ", " : "") + std::to_string(cut[i]);
  conf += " }\n";
  const fs::path conf_file = d.dir() / "cut.cfg";
  std::ofstream(conf_file) << conf;
  ASSERT_EQ(sh("ip netns exec " + net.ns() + " trafgen --dev " + net.peer() + " --conf " +
               conf_file.string() + " --num 7 -t 1ms >/dev/null 2>&1"),
            0);
  std::this_thread::sleep_for(500ms);

  const auto list = run_command({RECORDERCTL_PATH, "--server", d.server(), "list"}, d.dir());
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("unclassified: 7 packets on " + net.host() + " ingress"),
            std::string::npos)
      << list.output;
  const auto status = run_command(
      {RECORDERCTL_PATH, "--server", d.server(), "status", std::to_string(started.id())}, d.dir());
  EXPECT_NE(status.output.find("unclassified: 7 packets"), std::string::npos) << status.output;
  grpc::ClientContext stop_ctx;
  pb::StopRequest stop;
  stop.set_id(started.id());
  pb::RecordingInfo stopped;
  ASSERT_TRUE(d.recordings().Stop(&stop_ctx, stop, &stopped).ok());
  EXPECT_EQ(stopped.stats().packets_captured(), 7u) << "a portless TCP filter still matches";
  EXPECT_EQ(d.terminate(), 0);
  EXPECT_NE(d.log().find("7 packets (7 in all) on " + net.host() +
                         " ingress could not be "
                         "classified"),
            std::string::npos)
      << d.log();
}

// A crash under traffic, a restart and a clean stop, with each way of attaching: exactly one
// recorder program per direction while a daemon runs (a restart after kill -9 removes the
// orphaned clsact filters first; tcx links leave with the process), none after SIGTERM, and a
// neighbour's tc filter added after ours survives every step.
class EbpfCrash : public ::testing::TestWithParam<std::string> {};

TEST_P(EbpfCrash, KillRestartStopLeavesOneProgramPerDirectionAndNeighboursAlone) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("k"));
  ASSERT_TRUE(net.ok());
  const std::vector<std::string> flags = {"--interfaces", net.host(), "--attach", GetParam()};
  std::jthread traffic([&](std::stop_token stop) {
    while (!stop.stop_requested()) net.send_udp(false, 9999, 20, 200);
  });
  pb::StartRequest req;
  auto* f = req.mutable_recording()->add_include();
  f->set_destination_cidr(net.peer4());
  f->set_protocol(pb::PROTOCOL_UDP);
  auto expect_ours = [&](int per_direction, const char* step) {
    const HookPrograms h = hook_programs(net.host());
    EXPECT_EQ(h.ingress(), per_direction) << step;
    EXPECT_EQ(h.egress(), per_direction) << step;
    if (GetParam() == "tcx") {
      EXPECT_EQ(h.clsact_ingress + h.clsact_egress, 0) << step;
    } else {
      EXPECT_EQ(h.tcx_ingress + h.tcx_egress, 0) << step;
    }
  };
  fs::path storage;
  {
    Daemon d(flags);
    storage = d.storage();
    expect_ours(1, "first daemon running");
    // The neighbour: a clsact filter added after ours (its qdisc too, under tcx).
    sh("tc qdisc add dev " + net.host() + " clsact 2>/dev/null");
    ASSERT_EQ(add_foreign_filter(net.host(), "egress", 9), 0);
    grpc::ClientContext ctx;
    pb::StartResponse started;
    ASSERT_TRUE(d.recordings().Start(&ctx, req, &started).ok());
    std::this_thread::sleep_for(300ms);  // packets in flight
    d.kill_hard();
    // clsact filters outlive their process; tcx links do not.
    expect_ours(GetParam() == "clsact" ? 1 : 0, "after kill -9");
    Daemon restarted(flags, storage);
    expect_ours(1, "restarted daemon running");
    EXPECT_GT(hook_programs(net.host()).foreign_filters, 0);
    grpc::ClientContext ctx2;
    pb::StartResponse again;
    ASSERT_TRUE(restarted.recordings().Start(&ctx2, req, &again).ok());
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(restarted.terminate(), 0);
  }
  expect_ours(0, "after SIGTERM");
  EXPECT_GT(hook_programs(net.host()).foreign_filters, 0);
  EXPECT_NE(sh_output("tc filter show dev " + net.host() + " egress").find("u32"),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AttachModes, EbpfCrash, ::testing::Values("tcx", "clsact"),
                         [](const auto& param_info) { return param_info.param; });

TEST(EbpfIntegration, DeletedInterfaceStopsRecordingsWithReasonInterfaceGone) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host()});
  pb::StartRequest req;
  req.mutable_recording()->add_include();
  grpc::ClientContext ctx;
  pb::StartResponse started;
  ASSERT_TRUE(d.recordings().Start(&ctx, req, &started).ok());
  net.send_udp(false, 9999, 10, 100);
  std::this_thread::sleep_for(300ms);
  net.delete_link();
  const pb::RecordingInfo info = wait_until_stopped(d, started.id(), 10s);
  ASSERT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_INTERFACE_GONE);
  auto contents = read_pcap(info.file_path());
  EXPECT_EQ(contents.records.size(), info.stats().packets_captured());
  EXPECT_GE(info.stats().packets_captured(), 10u);
  EXPECT_EQ(d.terminate(), 0);
}

// Without --interfaces the daemon records every up, non-loopback interface of its network
// namespace, and follows interfaces that appear while it runs. The daemon runs inside the test's
// namespace, so "every interface" is the veth peer there and a second veth pair created
// mid-recording, not the machine's own. It is entered the way one enters a pod's namespace,
// `nsenter --net`, which leaves /sys showing the machine's interfaces: the daemon must learn
// about interfaces from netlink alone.
TEST(EbpfIntegration, WithoutAnInterfaceListRecordsEveryInterfaceIncludingNewOnes) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  std::string nsenter = sh_output("command -v nsenter");
  while (!nsenter.empty() && std::isspace(static_cast<unsigned char>(nsenter.back()))) {
    nsenter.pop_back();
  }
  ASSERT_FALSE(nsenter.empty()) << "nsenter (util-linux) is needed";
  Daemon d({}, {}, {nsenter, "--net=/run/netns/" + net.ns()});
  EXPECT_NE(d.log().find("attached to " + net.peer()), std::string::npos) << d.log();

  pb::StartRequest req;
  auto* f = req.mutable_recording()->add_include();
  f->set_protocol(pb::PROTOCOL_UDP);
  f->set_destination_port(9999);
  grpc::ClientContext ctx;
  pb::StartResponse started;
  ASSERT_TRUE(d.recordings().Start(&ctx, req, &started).ok());
  net.send_udp(false, 9999, 10, 100);  // into the namespace through the peer

  // A second veth pair appears: end A in the daemon's namespace, end B in another one.
  const std::string other = unique_name("m"), a = unique_name("a"), b = unique_name("b");
  struct Cleanup {
    std::string ns;
    ~Cleanup() { sh("ip netns del " + ns + " 2>/dev/null"); }
  } cleanup{other};
  const std::string a4 = "10.212." + std::to_string(getpid() % 250 + 1) + ".1";
  const std::string b4 = a4.substr(0, a4.size() - 1) + "2";
  ASSERT_EQ(sh("ip netns add " + other), 0);
  ASSERT_EQ(
      sh("ip -n " + net.ns() + " link add " + a + " type veth peer name " + b + " netns " + other),
      0);
  ASSERT_EQ(sh("ip -n " + net.ns() + " addr add " + a4 + "/24 dev " + a), 0);
  ASSERT_EQ(sh("ip -n " + net.ns() + " link set " + a + " up"), 0);
  ASSERT_EQ(sh("ip -n " + other + " addr add " + b4 + "/24 dev " + b), 0);
  ASSERT_EQ(sh("ip -n " + other + " link set " + b + " up"), 0);
  for (int i = 0; i < 250 && d.log().find("attached to " + a) == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(d.log().find("attached to " + a), std::string::npos) << d.log();
  // 10 datagrams from the other namespace to A's address, so they enter through A.
  ASSERT_EQ(sh("ip netns exec " + other + " bash -c 'for i in $(seq 10); do echo x > /dev/udp/" +
               a4 + "/9999; done'"),
            0);
  std::this_thread::sleep_for(300ms);  // past the reader's 100 ms latency bound

  grpc::ClientContext sctx;
  pb::StopRequest stop;
  stop.set_id(started.id());
  pb::RecordingInfo stopped;
  ASSERT_TRUE(d.recordings().Stop(&sctx, stop, &stopped).ok());
  const pb::RecordingInfo info = wait_until_stopped(d, started.id(), 10s);
  auto contents = read_pcap(info.file_path());
  int to_peer = 0, to_a = 0;
  for (const auto& r : contents.records) {
    PacketInfo p = decode_packet(r.data, LinkType::kEthernet);
    EXPECT_EQ(p.destination_port, 9999);
    char dst[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, p.destination.data(), dst, sizeof dst);
    to_peer += net.peer4() == dst;
    to_a += a4 == dst;
  }
  EXPECT_EQ(to_peer, 10) << "packets through the namespace's interface at start";
  EXPECT_EQ(to_a, 10) << "packets through the interface that appeared later";
  EXPECT_EQ(d.terminate(), 0);
  EXPECT_EQ(sh_output("ip netns exec " + net.ns() + " tc filter show dev " + a + " ingress"), "")
      << "the daemon's filter on the later interface was left behind";
}

// Captures are private whatever the umask: a storage directory the daemon creates is 0750, its
// files 0600, and another user cannot read them; with --file-group, that group can (0640).
TEST(Privacy, CapturesAreUnreadableForOtherUsersEvenUnderUmaskZero) {
  RECORDER_REQUIRE_ROOT();
  TempDir tmp;
  // Others may traverse to the storage path, so only the daemon's modes decide who reads.
  fs::permissions(tmp.path(), fs::perms(0711));
  const auto input = big_packets(tmp.path());
  struct UmaskZero {
    mode_t old = ::umask(0);
    ~UmaskZero() { ::umask(old); }
  } umask_zero;
  const std::string as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups cat ";
  const std::string as_stranger = "setpriv --reuid=65534 --regid=12345 --clear-groups cat ";
  for (const bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "--file-group nogroup" : "default");
    const fs::path storage = tmp.path() / (shared ? "shared" : "private") / "storage";
    std::vector<std::string> flags = {"--replay",
                                      input.string(),
                                      "--replay-loop",
                                      "--replay-rate",
                                      "5000",
                                      "--replay-start-after",
                                      "0"};
    if (shared) flags.insert(flags.end(), {"--file-group", "nogroup"});
    Daemon d(flags, storage);
    const auto info = record_packets(d, 10);
    const std::string file = info.file_path();
    ASSERT_FALSE(file.empty());
    struct stat st {};
    ASSERT_EQ(::stat(storage.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, shared ? 0640u : 0600u);
    EXPECT_EQ(sh("cat " + file + " > /dev/null"), 0) << "root reads it";
    EXPECT_NE(sh(as_stranger + file + " > /dev/null 2>&1"), 0) << "another user reads " << file;
    if (shared) {
      EXPECT_EQ(st.st_gid, 65534u);
      EXPECT_EQ(sh(as_nobody + file + " > /dev/null"), 0) << "the file group cannot read it";
    } else {
      EXPECT_NE(sh(as_nobody + file + " > /dev/null 2>&1"), 0) << "nobody reads " << file;
    }
  }
}

}  // namespace
}  // namespace recorder::test
