// Integration tests: a real recorderd in --replay mode (no privileges, no BPF) driven through a
// raw gRPC client (Hubble's Record stream, the Recordings service) and through recorderctl.
// Recorded files are checked packet by packet against the input read with libpcap.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>

#include "daemon_fixture.h"
#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "filter_selection.h"
#include "packet_builder.h"
#include "pcap_file.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;
using json = nlohmann::json;

// Mixed traffic: DNS over UDP, HTTPS over TCP, ICMP, IPv6 UDP, in different sizes.
std::vector<PcapRecord> mixed_traffic(int rounds) {
  std::vector<PcapRecord> out;
  uint64_t ts = 1700000000000000000ull;
  for (int i = 0; i < rounds; ++i) {
    std::vector<PacketSpec> specs = {
        {.source = "10.0.0.1",
         .destination = "10.0.0.2",
         .protocol = IPPROTO_UDP,
         .source_port = static_cast<uint16_t>(40000 + i % 50),
         .destination_port = 53,
         .payload_length = static_cast<size_t>(20 + i % 30)},
        {.source = "10.0.0.2",
         .destination = "10.0.0.1",
         .protocol = IPPROTO_UDP,
         .source_port = 53,
         .destination_port = static_cast<uint16_t>(40000 + i % 50),
         .payload_length = 80},
        {.source = "10.0.1.5",
         .destination = "192.168.1.10",
         .protocol = IPPROTO_TCP,
         .source_port = 50000,
         .destination_port = 443,
         .payload_length = static_cast<size_t>(i % 3 == 0 ? 1400 : 0)},
        {.source = "10.0.0.1",
         .destination = "10.0.0.9",
         .protocol = IPPROTO_ICMP,
         .payload_length = 56},
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
      ts += 1000;
      r.data = build_packet(spec);
      out.push_back(std::move(r));
    }
  }
  return out;
}

fs::path write_input(const fs::path& dir, int rounds = 100) {
  fs::path path = dir / "input.pcap";
  write_pcap(path.string(), mixed_traffic(rounds));
  return path;
}

// The input records a filter selects, by recorder::matches() on libpcap's view of the input.
std::vector<std::vector<uint8_t>> expected_for(const fs::path& input,
                                               const std::vector<std::string>& filters) {
  std::vector<std::vector<uint8_t>> out;
  for (auto& r : select(read_pcap(input.string()).records, 0, UINT64_MAX, filters)) {
    out.push_back(std::move(r.data));
  }
  return out;
}

std::vector<std::vector<uint8_t>> packets_of(const std::string& path) {
  std::vector<std::vector<uint8_t>> out;
  for (auto& r : read_pcap(path).records) out.push_back(std::move(r.data));
  return out;
}

void add_filter(pb::StartRecording* start, const std::string& text) {
  auto f = parse_filter(text);
  ASSERT_TRUE(f.ok()) << f.error().message();
  auto* out = start->add_include();
  if (f->source.family != AddressFamily::kAny) out->set_source_cidr(to_string(f->source));
  out->set_source_port(f->source_port);
  if (f->destination.family != AddressFamily::kAny)
    out->set_destination_cidr(to_string(f->destination));
  out->set_destination_port(f->destination_port);
  out->set_protocol(static_cast<pb::Protocol>(f->protocol));
}

// A Hubble-like start: every stop condition present, 0 meaning "none" (as hubble record sends).
pb::RecordRequest hubble_start(const std::string& filter, uint64_t packets = 0) {
  pb::RecordRequest request;
  auto* start = request.mutable_start();
  start->mutable_filesink()->set_file_prefix("hubble");
  add_filter(start, filter);
  start->set_max_capture_length(0);
  auto* stop = start->mutable_stop_condition();
  stop->set_bytes_captured_count(0);
  stop->set_packets_captured_count(packets);
  stop->mutable_time_elapsed()->set_seconds(0);
  return request;
}

pb::RecordingInfo get_info(Daemon& d, uint64_t id) {
  grpc::ClientContext ctx;
  pb::GetRequest req;
  req.set_id(id);
  pb::RecordingInfo info;
  auto status = d.recordings().Get(&ctx, req, &info);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return info;
}

pb::RecordingInfo wait_stopped(Daemon& d, uint64_t id, std::chrono::seconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pb::RecordingInfo info;
  while (std::chrono::steady_clock::now() < deadline) {
    info = get_info(d, id);
    if (info.state() == pb::RECORDING_STATE_STOPPED) return info;
    std::this_thread::sleep_for(20ms);
  }
  ADD_FAILURE() << "recording " << id << " did not stop";
  return info;
}

std::vector<std::string> loop_flags(const fs::path& input, int rate = 5000) {
  return {"--replay",
          input.string(),
          "--replay-loop",
          "--replay-rate",
          std::to_string(rate),
          "--replay-start-after",
          "0"};
}

TEST(ReplayIntegration, HubbleRecordStreamStartThenStop) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d(loop_flags(input));
  grpc::ClientContext ctx;
  auto stream = d.recorder().Record(&ctx);
  ASSERT_TRUE(stream->Write(hubble_start("10.0.0.0/8 0 any 53 UDP")));

  pb::RecordResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_running());
  EXPECT_EQ(response.running().stats().packets_captured(), 0u);  // zero counts at once
  EXPECT_EQ(response.node_name(), "itest");
  EXPECT_GT(response.time().seconds(), 1600000000);

  // Stats updates arrive while it runs, coalesced to a few per second.
  auto first_update = std::chrono::steady_clock::now();
  int updates = 0;
  while (stream->Read(&response) && response.has_running()) {
    ++updates;
    if (response.running().stats().packets_captured() >= 200) break;
  }
  auto elapsed = std::chrono::steady_clock::now() - first_update;
  ASSERT_TRUE(response.has_running());
  EXPECT_GE(response.running().stats().packets_captured(), 200u);
  EXPECT_LE(updates, 2 + 5 * std::chrono::duration_cast<std::chrono::seconds>(elapsed).count() + 5);

  pb::RecordRequest stop;
  stop.mutable_stop();
  ASSERT_TRUE(stream->Write(stop));
  ASSERT_TRUE(stream->WritesDone());
  bool stopped = false;
  while (stream->Read(&response)) {
    if (response.has_stopped()) {
      stopped = true;
      break;
    }
  }
  ASSERT_TRUE(stopped);
  EXPECT_FALSE(stream->Read(&response));
  auto status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();

  const auto& s = response.stopped();
  EXPECT_EQ(s.stop_reason(), pb::STOP_REASON_REQUESTED);
  fs::path file = s.filesink().file_path();
  EXPECT_TRUE(file.is_absolute());
  EXPECT_EQ(file.parent_path(), fs::canonical(d.storage()));
  EXPECT_TRUE(file.filename().string().starts_with("hubble_"));
  auto packets = packets_of(file.string());
  EXPECT_EQ(packets.size(), s.stats().packets_captured());
  EXPECT_EQ(s.stats().packets_lost(), 0u);
  auto wanted = expected_for(input, {"10.0.0.0/8 0 any 53 UDP"});
  FrameSet allowed(wanted.begin(), wanted.end());
  for (const auto& p : packets)
    EXPECT_TRUE(allowed.count(p)) << "a packet the filter does not select";
}

TEST(ReplayIntegration, HubblePacketLimitEndsTheStreamWithTheFile) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d(loop_flags(input));
  grpc::ClientContext ctx;
  auto stream = d.recorder().Record(&ctx);
  ASSERT_TRUE(stream->Write(hubble_start("any 0 any 443 TCP", 100)));
  pb::RecordResponse response;
  pb::RecordResponse stopped;
  while (stream->Read(&response)) {
    if (response.has_stopped()) stopped = response;
  }
  auto status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(stopped.has_stopped());
  EXPECT_EQ(stopped.stopped().stop_reason(), pb::STOP_REASON_PACKET_LIMIT);
  EXPECT_EQ(stopped.stopped().stats().packets_captured(), 100u);
  auto packets = packets_of(stopped.stopped().filesink().file_path());
  ASSERT_EQ(packets.size(), 100u);
  for (const auto& p : packets) {
    EXPECT_TRUE(matches(*parse_filter("any 0 any 443 TCP"), decode_packet(p, LinkType::kEthernet)));
  }
}

TEST(ReplayIntegration, OverlappingRecordingsEachGetExactlyTheirPackets) {
  TempDir tmp;
  auto input = write_input(tmp.path(), 200);
  // The replay (once, not looped) begins when all three recordings run, so each must hold
  // exactly the input packets its filters select, in order.
  Daemon d({"--replay", input.string(), "--replay-start-after", "3"});
  std::vector<std::vector<std::string>> filters = {
      {"10.0.0.0/24 0 any 53 UDP"},
      {"any 0 any 0 ICMP", "fd00::/64 0 any 0 ANY"},
      {"10.0.0.0/8 0 any 0 ANY"},
  };
  std::vector<uint64_t> ids;
  for (const auto& set : filters) {
    pb::StartRequest req;
    for (const auto& f : set) add_filter(req.mutable_recording(), f);
    req.mutable_recording()->set_format(ids.size() == 1 ? pb::FILE_FORMAT_PCAPNG
                                                        : pb::FILE_FORMAT_PCAP);
    grpc::ClientContext ctx;
    pb::StartResponse resp;
    auto status = d.recordings().Start(&ctx, req, &resp);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ids.push_back(resp.id());
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    auto info = wait_stopped(d, ids[i]);
    EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_SOURCE_ENDED);
    auto expected = expected_for(input, filters[i]);
    auto got = packets_of(info.file_path());
    EXPECT_EQ(got.size(), expected.size()) << "recording " << ids[i];
    EXPECT_TRUE(got == expected) << "recording " << ids[i] << " differs from the input selection";
    EXPECT_EQ(info.stats().packets_captured(), expected.size());
    EXPECT_EQ(info.stats().packets_lost(), 0u);
    EXPECT_EQ(info.format(), i == 1 ? pb::FILE_FORMAT_PCAPNG : pb::FILE_FORMAT_PCAP);
  }
}

TEST(ReplayIntegration, ClientGoneStopsTheRecordingAndKeepsTheFile) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d(loop_flags(input));
  uint64_t id = 0;
  {
    grpc::ClientContext ctx;
    auto stream = d.recorder().Record(&ctx);
    ASSERT_TRUE(stream->Write(hubble_start("any 0 any 0 ANY")));
    pb::RecordResponse response;
    while (stream->Read(&response)) {
      ASSERT_TRUE(response.has_running());
      id = response.running().recording_id();
      if (response.running().stats().packets_captured() > 50) break;
    }
    ctx.TryCancel();  // the client disappears mid-stream
    while (stream->Read(&response)) {
    }
    (void)stream->Finish();
  }
  ASSERT_NE(id, 0u);
  auto info = wait_stopped(d, id);
  EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_CLIENT_GONE);
  ASSERT_FALSE(info.file_path().empty());
  EXPECT_TRUE(fs::exists(info.file_path()));
  EXPECT_EQ(packets_of(info.file_path()).size(), info.stats().packets_captured());
  EXPECT_GT(info.stats().packets_captured(), 50u);
}

TEST(ReplayIntegration, SigtermStopsRecordingsWithValidFilesAndExitsZero) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d(loop_flags(input));
  grpc::ClientContext ctx;
  auto stream = d.recorder().Record(&ctx);
  ASSERT_TRUE(stream->Write(hubble_start("any 0 any 0 ANY")));
  pb::RecordResponse response;
  while (stream->Read(&response) && response.has_running() &&
         response.running().stats().packets_captured() < 100) {
  }
  // A detached one as well.
  pb::StartRequest req;
  add_filter(req.mutable_recording(), "any 0 any 53 UDP");
  grpc::ClientContext start_ctx;
  pb::StartResponse started;
  ASSERT_TRUE(d.recordings().Start(&start_ctx, req, &started).ok());

  std::thread killer([&] { EXPECT_EQ(d.terminate(), 0) << "exit status"; });
  pb::RecordResponse stopped;
  while (stream->Read(&response)) {
    if (response.has_stopped()) stopped = response;
  }
  auto status = stream->Finish();
  killer.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(stopped.has_stopped());
  EXPECT_EQ(stopped.stopped().stop_reason(), pb::STOP_REASON_DAEMON_SHUTDOWN);
  EXPECT_EQ(packets_of(stopped.stopped().filesink().file_path()).size(),
            stopped.stopped().stats().packets_captured());
  // Both files are complete, named, and their metadata says why they stopped.
  int files = 0;
  for (const auto& e : fs::directory_iterator(d.storage())) {
    std::string name = e.path().filename().string();
    if (name.ends_with(".json")) {
      auto meta = json::parse(read_text(e.path()));
      EXPECT_EQ(meta["stop_reason_text"], "daemon shutdown");
    } else {
      EXPECT_FALSE(name.starts_with(".")) << "partial file left behind: " << name;
      EXPECT_NO_THROW(read_pcap(e.path().string())) << name;
      ++files;
    }
  }
  EXPECT_EQ(files, 2);
  EXPECT_NE(d.log().find("daemon shutdown"), std::string::npos);
}

grpc::Status record_status(Daemon& d, const pb::RecordRequest& first) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto stream = d.recorder().Record(&ctx);
  stream->Write(first);
  stream->WritesDone();
  pb::RecordResponse response;
  while (stream->Read(&response)) {
  }
  return stream->Finish();
}

TEST(ReplayIntegration, BadRequestsGetTheRightStatusCodes) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d({"--replay", input.string(), "--replay-loop", "--replay-rate", "1000",
            "--max-recordings", "1", "--max-filters", "2", "--max-snap-length", "1500"});
  struct Case {
    std::string name;
    std::function<void(pb::RecordRequest&)> edit;
    grpc::StatusCode code;
    std::string field;
  };
  std::vector<Case> cases = {
      {"stop first", [](pb::RecordRequest& r) { r.mutable_stop(); },
       grpc::StatusCode::FAILED_PRECONDITION, "start"},
      {"empty request", [](pb::RecordRequest& r) { r.Clear(); }, grpc::StatusCode::INVALID_ARGUMENT,
       "start"},
      {"bad prefix",
       [](pb::RecordRequest& r) {
         r.mutable_start()->mutable_filesink()->set_file_prefix("../../etc");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "file_prefix"},
      {"no filter", [](pb::RecordRequest& r) { r.mutable_start()->clear_include(); },
       grpc::StatusCode::INVALID_ARGUMENT, "include"},
      {"port too big",
       [](pb::RecordRequest& r) {
         r.mutable_start()->mutable_include(0)->set_destination_port(65536);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "destination_port"},
      {"bad cidr",
       [](pb::RecordRequest& r) {
         r.mutable_start()->mutable_include(0)->set_source_cidr("10.0.0.0/40");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "source_cidr"},
      {"family mismatch",
       [](pb::RecordRequest& r) {
         r.mutable_start()->mutable_include(0)->set_source_cidr("10.0.0.1");
         r.mutable_start()->mutable_include(0)->set_destination_cidr("fd00::1");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "include[0]"},
      {"unknown protocol",
       [](pb::RecordRequest& r) {
         r.mutable_start()->mutable_include(0)->set_protocol(static_cast<pb::Protocol>(200));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "protocol"},
      {"snap length", [](pb::RecordRequest& r) { r.mutable_start()->set_max_capture_length(9000); },
       grpc::StatusCode::INVALID_ARGUMENT, "max_capture_length"},
      {"too many filters",
       [](pb::RecordRequest& r) {
         r.mutable_start()->add_include();
         r.mutable_start()->add_include();
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, "include"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    pb::RecordRequest request = hubble_start("any 0 any 0 ANY");
    c.edit(request);
    auto status = record_status(d, request);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_NE(status.error_message().find(c.field), std::string::npos) << status.error_message();
  }

  // Limits: one recording at a time.
  pb::StartRequest req;
  add_filter(req.mutable_recording(), "any 0 any 0 ANY");
  grpc::ClientContext c1;
  pb::StartResponse first;
  ASSERT_TRUE(d.recordings().Start(&c1, req, &first).ok());
  grpc::ClientContext c2;
  pb::StartResponse second;
  EXPECT_EQ(d.recordings().Start(&c2, req, &second).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Download / delete of a running recording, unknown ids, bad offsets.
  {
    grpc::ClientContext ctx;
    pb::DownloadRequest dl;
    dl.set_id(first.id());
    auto reader = d.recordings().Download(&ctx, dl);
    pb::DownloadChunk chunk;
    while (reader->Read(&chunk)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    pb::DeleteRequest del;
    del.set_id(first.id());
    pb::DeleteResponse resp;
    EXPECT_EQ(d.recordings().Delete(&ctx, del, &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  for (auto call : {0, 1, 2, 3}) {
    grpc::ClientContext ctx;
    grpc::Status status;
    if (call == 0) {
      pb::GetRequest r;
      r.set_id(424242);
      pb::RecordingInfo info;
      status = d.recordings().Get(&ctx, r, &info);
    } else if (call == 1) {
      pb::StopRequest r;
      r.set_id(424242);
      pb::RecordingInfo info;
      status = d.recordings().Stop(&ctx, r, &info);
    } else if (call == 2) {
      pb::DeleteRequest r;
      r.set_id(424242);
      pb::DeleteResponse resp;
      status = d.recordings().Delete(&ctx, r, &resp);
    } else {
      pb::DownloadRequest r;
      r.set_id(424242);
      auto reader = d.recordings().Download(&ctx, r);
      pb::DownloadChunk chunk;
      while (reader->Read(&chunk)) {
      }
      status = reader->Finish();
    }
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << call;
  }
  grpc::ClientContext sc;
  pb::StopRequest sr;
  sr.set_id(first.id());
  pb::RecordingInfo stopped;
  ASSERT_TRUE(d.recordings().Stop(&sc, sr, &stopped).ok());
  {
    grpc::ClientContext ctx;
    pb::DownloadRequest dl;
    dl.set_id(first.id());
    dl.set_offset(stopped.file_size() + 1);
    auto reader = d.recordings().Download(&ctx, dl);
    pb::DownloadChunk chunk;
    while (reader->Read(&chunk)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  }
}

// Oversized and odd fields through the real server: the client gets INVALID_ARGUMENT naming the
// field with a short message (a 1 MiB echo once reached clients as "received initial metadata
// size exceeds limit"), a NUL inside a CIDR is refused, and the daemon logs each refusal with the
// client's peer.
TEST(ReplayIntegration, OversizedAndOddFieldsAreRefusedBrieflyAndLoggedWithThePeer) {
  using namespace std::string_literals;
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d({"--replay", input.string(), "--replay-loop", "--replay-rate", "1000"});
  const std::string mib(1 << 20, 'a');
  struct Case {
    std::string name;
    std::function<void(pb::StartRecording&)> edit;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"1 MiB file_prefix",
       [&](pb::StartRecording& s) { s.mutable_filesink()->set_file_prefix(mib); },
       "filesink.file_prefix"},
      {"1 MiB source_cidr",
       [&](pb::StartRecording& s) { s.mutable_include(0)->set_source_cidr(mib); },
       "include[0].source_cidr"},
      {"NUL in a CIDR",
       [&](pb::StartRecording& s) {
         s.mutable_include(0)->set_destination_cidr("10.0.0.0\0junk/8"s);
       },
       "include[0].destination_cidr"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    pb::RecordRequest request = hubble_start("any 0 any 0 ANY");
    c.edit(*request.mutable_start());
    auto status = record_status(d, request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_EQ(status.error_message().find(c.says), 0u) << status.error_message();
    EXPECT_LT(status.error_message().size(), 300u);

    grpc::ClientContext ctx;
    pb::StartRequest start;
    *start.mutable_recording() = request.start();
    pb::StartResponse response;
    status = d.recordings().Start(&ctx, start, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_EQ(status.error_message().find(c.says), 0u) << status.error_message();
  }
  const std::string log = d.log();
  EXPECT_NE(log.find("info refused Record from unix:"), std::string::npos) << log;
  EXPECT_NE(log.find("info refused Start from unix:"), std::string::npos) << log;
  EXPECT_NE(log.find("NUL byte"), std::string::npos) << log;
  EXPECT_LT(log.size(), 64u << 10) << "the log quotes excerpts, not the megabyte";
}

// hubble record "10.95.0.1/24 0 10.95.0.2/32 9000 UDP": accepted as Cilium's recorder did (Go's
// net.ParseCIDR masks), logged, and the status shows the prefix that is used.
TEST(ReplayIntegration, CidrWithHostBitsIsMaskedAsHubbleDidLoggedAndShown) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d({"--replay", input.string(), "--replay-loop", "--replay-rate", "1000"});
  pb::StartRequest start;
  auto* f = start.mutable_recording()->add_include();
  f->set_source_cidr("10.95.0.1/24");
  f->set_destination_cidr("10.95.0.2/32");
  f->set_destination_port(9000);
  f->set_protocol(pb::PROTOCOL_UDP);
  grpc::ClientContext ctx;
  pb::StartResponse response;
  auto status = d.recordings().Start(&ctx, start, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto info = get_info(d, response.id());
  ASSERT_EQ(info.include_size(), 1);
  EXPECT_EQ(info.include(0).source_cidr(), "10.95.0.0/24");
  EXPECT_EQ(info.include(0).destination_cidr(), "10.95.0.2/32");
  EXPECT_NE(d.log().find("host bits set below the /24 prefix, using 10.95.0.0/24"),
            std::string::npos)
      << d.log();

  // recorderctl takes the same text and warns.
  auto out = run_command(
      {RECORDERCTL_PATH, "--server", d.server(), "start", "10.95.0.1/24 0 10.95.0.2/32 9000 UDP"},
      tmp.path());
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_NE(out.output.find("warning: filter"), std::string::npos) << out.output;
  EXPECT_NE(out.output.find("using 10.95.0.0/24"), std::string::npos) << out.output;
}

// A Record client that stops reading: once gRPC's flow-control window is full the daemon's
// writes wait, and it must keep only the latest `running` per stream instead of queueing one
// every 250 ms without bound. The client's window is made small (128 bytes, no BDP growth) so
// it fills after a message or two; when the client reads again it gets what was in the window,
// the one latest `running`, and `stopped`.
TEST(ReplayIntegration, ClientThatStopsReadingGetsOnlyTheLatestProgress) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  // Statistics change all the time: a packet every millisecond.
  Daemon d({"--replay", input.string(), "--replay-loop", "--replay-rate", "1000"});
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 128);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto channel = grpc::CreateCustomChannel(d.server(), grpc::InsecureChannelCredentials(), args);
  auto stub = pb::Recorder::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  auto stream = stub->Record(&ctx);
  ASSERT_TRUE(stream->Write(hubble_start("any 0 any 0 ANY")));

  // Not reading, while the statistics change: unbounded, this queued one `running` per 250 ms.
  // Wait until the recording has captured for a while (stats seen to change 16 times = at least
  // 16 * 250 ms of updates the stream had to send).
  uint64_t id = 0;
  for (int tries = 0; id == 0 && tries < 500; ++tries) {
    grpc::ClientContext c;
    pb::ListRequest req;
    pb::ListResponse list;
    ASSERT_TRUE(d.recordings().List(&c, req, &list).ok());
    if (list.recordings_size() > 0) id = list.recordings(0).id();
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_NE(id, 0u);
  uint64_t last = 0;
  for (int changes = 0; changes < 16;) {
    std::this_thread::sleep_for(260ms);
    const uint64_t now = get_info(d, id).stats().packets_captured();
    if (now != last) ++changes;
    last = now;
  }

  pb::RecordRequest stop;
  stop.mutable_stop();
  ASSERT_TRUE(stream->Write(stop));
  stream->WritesDone();
  pb::RecordResponse response;
  int running = 0;
  bool stopped = false;
  while (stream->Read(&response)) {
    if (response.has_running()) ++running;
    if (response.has_stopped()) stopped = true;
  }
  (void)stream->Finish();
  EXPECT_TRUE(stopped);
  // What fit in the 128-byte window (a few), the one latest pending, and those of the moments
  // between reading again and the stop: a handful, however long the client did not read (16
  // changes of the statistics took more than 16 * 250 ms; unbounded, each was queued).
  EXPECT_LE(running, 8) << "running messages were queued while the client did not read";
}

TEST(ReplayIntegration, DetachedStopIsIdempotentAndWatchEndsWhenStopped) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d(loop_flags(input, 2000));
  pb::StartRequest req;
  add_filter(req.mutable_recording(), "any 0 any 0 ANY");
  req.mutable_recording()->mutable_stop_condition()->mutable_time_elapsed()->set_seconds(1);
  grpc::ClientContext c1;
  pb::StartResponse started;
  ASSERT_TRUE(d.recordings().Start(&c1, req, &started).ok());
  grpc::ClientContext wctx;
  pb::WatchRequest w;
  w.set_id(started.id());
  auto watch = d.recordings().Watch(&wctx, w);
  pb::RecordingInfo info;
  int messages = 0;
  pb::RecordingInfo last;
  while (watch->Read(&info)) {
    ++messages;
    last = info;
  }
  EXPECT_TRUE(watch->Finish().ok());
  EXPECT_GE(messages, 2);
  EXPECT_EQ(last.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(last.stop_reason(), pb::STOP_REASON_TIME_LIMIT);
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    pb::StopRequest r;
    r.set_id(started.id());
    pb::RecordingInfo again;
    ASSERT_TRUE(d.recordings().Stop(&ctx, r, &again).ok());
    EXPECT_EQ(again.stop_reason(), pb::STOP_REASON_TIME_LIMIT);
    EXPECT_EQ(again.stats().packets_captured(), last.stats().packets_captured());
  }
}

TEST(ReplayIntegration, RecorderctlRecordStartListStatusFetchDelete) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d(loop_flags(input));
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{RECORDERCTL_PATH, "--server", d.server()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, tmp.path());
  };

  auto rec = ctl({"record", "any 0 any 53 UDP", "--packet-limit", "40", "--file-prefix", "rb"});
  ASSERT_EQ(rec.exit_code, 0) << rec.output;
  EXPECT_NE(rec.output.find("Output written to: "), std::string::npos) << rec.output;
  EXPECT_NE(rec.output.find("packet limit"), std::string::npos) << rec.output;

  auto rec_json = ctl({"--json", "record", "10.0.0.0/8 0 any 0 ANY", "--packet-limit", "5",
                       "--bidirectional", "--format", "pcapng"});
  ASSERT_EQ(rec_json.exit_code, 0) << rec_json.output;
  auto stopped = json::parse(rec_json.output.substr(rec_json.output.find('{')));
  EXPECT_EQ(stopped["stopped"]["stop_reason"], "STOP_REASON_PACKET_LIMIT");
  std::string path = stopped["stopped"]["filesink"]["file_path"];
  EXPECT_TRUE(path.ends_with(".pcapng"));
  EXPECT_EQ(packets_of(path).size(), 5u);

  auto start = ctl({"start", "any 0 any 443 TCP", "--time-limit", "500ms"});
  ASSERT_EQ(start.exit_code, 0) << start.output;
  std::string id = start.output.substr(0, start.output.find('\n'));
  ASSERT_FALSE(id.empty());
  wait_stopped(d, std::stoull(id));

  auto list = ctl({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("time limit"), std::string::npos) << list.output;
  auto list_json = ctl({"list", "--json"});
  ASSERT_EQ(list_json.exit_code, 0) << list_json.output;
  EXPECT_EQ(json::parse(list_json.output)["recordings"].size(), 3u);

  auto status = ctl({"status", id, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  auto info = json::parse(status.output);
  EXPECT_EQ(info["state"], "RECORDING_STATE_STOPPED");
  std::string server_file = info["file_path"];
  auto status_text = ctl({"status", id});
  ASSERT_EQ(status_text.exit_code, 0) << status_text.output;
  EXPECT_NE(status_text.output.find(
                "captured:     " + std::to_string(packets_of(server_file).size()) + " packets"),
            std::string::npos)
      << status_text.output;
  EXPECT_NE(status_text.output.find("lost:         0 packets (kernel 0, queue 0, write 0)\n"),
            std::string::npos)
      << status_text.output;
  EXPECT_NE(status_text.output.find("filter:       any 0 any 443 TCP\n"), std::string::npos)
      << status_text.output;

  // fetch: bytes identical, also when resuming from a partial output.
  fs::path out = tmp.path() / "fetched.pcap";
  auto fetch = ctl({"fetch", id, "-o", out.string()});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.output;
  EXPECT_EQ(read_text(out), read_text(server_file));
  std::string whole = read_text(out);
  fs::resize_file(out, whole.size() / 3);
  auto resumed = ctl({"--json", "fetch", id, "-o", out.string()});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(read_text(out), whole);
  EXPECT_EQ(json::parse(resumed.output)["resumed_from"], whole.size() / 3);

  auto del = ctl({"delete", id});
  ASSERT_EQ(del.exit_code, 0) << del.output;
  EXPECT_FALSE(fs::exists(server_file));
  auto gone = ctl({"status", id});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.output.find("no such recording"), std::string::npos) << gone.output;

  // Errors from the server are printed as they are, with a failing exit status.
  auto bad = ctl({"start", "any 0 any 0 ANY", "--file-prefix", "BAD"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("filesink.file_prefix"), std::string::npos) << bad.output;
  auto bad_filter = ctl({"start", "10.0.0.1 0 10.0.0.2 99999 UDP"});
  EXPECT_NE(bad_filter.exit_code, 0);
  auto unreachable =
      run_command({RECORDERCTL_PATH, "--server", "unix:///nonexistent/x.sock", "list"}, tmp.path());
  EXPECT_NE(unreachable.exit_code, 0);
}

TEST(ReplayIntegration, RecorderctlRecordCtrlCStopsAndPrintsTheResult) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d(loop_flags(input));
  fs::path log = tmp.path() / "ctrl-c.log";
  pid_t pid = spawn({RECORDERCTL_PATH, "--server", d.server(), "record", "any 0 any 0 ANY"}, log);
  ASSERT_GT(pid, 0);
  // Wait until the recording runs and has packets, then press Ctrl-C.
  bool running = false;
  for (int i = 0; i < 500 && !running; ++i) {
    grpc::ClientContext ctx;
    pb::ListResponse list;
    ASSERT_TRUE(d.recordings().List(&ctx, pb::ListRequest(), &list).ok());
    running = list.recordings_size() == 1 && list.recordings(0).stats().packets_captured() > 10;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(running);
  ::kill(pid, SIGINT);
  int status = wait_for_exit(pid, 20s);
  if (status == -1) ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0);
  ASSERT_NE(status, -1) << "recorderctl did not exit after SIGINT";
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping the recording";
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_text(log);
  std::string out = read_text(log);
  EXPECT_NE(out.find("Stopped recording (requested)"), std::string::npos) << out;
  EXPECT_NE(out.find("Output written to: "), std::string::npos) << out;
}

TEST(ReplayIntegration, KillDashNineThenRestartRecoversAndListsThePartialFile) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  fs::path storage = tmp.path() / "storage";
  uint64_t id = 0;
  {
    Daemon d(loop_flags(input), storage);
    pb::StartRequest req;
    add_filter(req.mutable_recording(), "any 0 any 0 ANY");
    grpc::ClientContext ctx;
    pb::StartResponse started;
    ASSERT_TRUE(d.recordings().Start(&ctx, req, &started).ok());
    id = started.id();
    for (int i = 0; i < 500 && get_info(d, id).stats().packets_captured() < 2000; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    d.kill_hard();  // a crash: no chance to close the file
    bool partial = false;
    for (const auto& e : fs::directory_iterator(storage)) {
      partial |= e.path().filename().string().ends_with(".partial");
    }
    EXPECT_TRUE(partial) << "the crash should leave a partial file";
  }
  Daemon restarted(loop_flags(input), storage);
  EXPECT_NE(restarted.log().find("recovered partial file"), std::string::npos) << restarted.log();
  auto info = get_info(restarted, id);
  EXPECT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
  ASSERT_FALSE(info.file_path().empty());
  // Readable by libpcap, and what it holds is what the listing says.
  auto packets = packets_of(info.file_path());
  EXPECT_EQ(packets.size(), info.stats().packets_captured());
  // New recordings get new ids after the recovered one.
  pb::StartRequest req;
  add_filter(req.mutable_recording(), "any 0 any 0 ANY");
  grpc::ClientContext ctx;
  pb::StartResponse next;
  ASSERT_TRUE(restarted.recordings().Start(&ctx, req, &next).ok());
  EXPECT_GT(next.id(), id);
}

TEST(ReplayIntegration, ManyStartStopCyclesLeakNoFdsOrMemory) {
  TempDir tmp;
  auto input = write_input(tmp.path());
  Daemon d(loop_flags(input, 20000));
  pb::StartRequest req;
  add_filter(req.mutable_recording(), "any 0 any 0 ANY");
  ASSERT_NO_FATAL_FAILURE(start_stop_delete(d, req, 20));  // warm-up: thread pools, arenas
  size_t fds = fd_count(d.pid());
  size_t rss = rss_kib(d.pid());
  ASSERT_NO_FATAL_FAILURE(start_stop_delete(d, req, 200));
  size_t fds_after = fd_count(d.pid());
  size_t rss_after = rss_kib(d.pid());
  std::cout << "fds " << fds << " -> " << fds_after << ", RSS " << rss << " KiB -> " << rss_after
            << " KiB\n";
  EXPECT_LE(fds_after, fds + 2);
  EXPECT_LE(rss_after, rss + 16 * 1024) << "RSS grew by more than 16 MiB over 200 cycles";
}

}  // namespace
}  // namespace recorder::test
