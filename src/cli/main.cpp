// recorderctl: the runbook's tool for recorderd.
//
//   recorderctl record "10.0.0.0/8 0 10.1.2.3 443 TCP" --packet-limit 1000   (like hubble record)
//   recorderctl start FILTER... [limits]   -> prints the id (detached)
//   recorderctl list | status ID | stop ID | fetch ID [-o FILE] | delete ID
//   recorderctl ring start NAME FILTER... [--max-size 10GiB] [--max-age 24h] ...
//   recorderctl ring list | status NAME | stop NAME | delete NAME
//   recorderctl snapshot NAME [--last 10m | --from T --to T] [FILTER...] [-o FILE]
//
// Filters are Hubble's text form "SRC_CIDR SRC_PORT DST_CIDR DST_PORT PROTOCOL", one argument
// each. --json prints the server's messages as JSON for scripts. Exit status 0 only on success;
// errors from the server are printed as they are.
#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/client.h"
#include "dispatch/filter.h"
#include "recorder.grpc.pb.h"
#include "service/ring_flags.h"
#include "service/units.h"
#include "sink/file_naming.h"
#include "storage/directory.h"

namespace {
using namespace recorder;
namespace fs = std::filesystem;

struct RecordFlags {
  std::vector<std::string> filters;
  uint64_t packet_limit = 0;
  std::string bytes_limit = "0";
  std::string time_limit = "0";
  uint32_t max_capture_len = 0;
  std::string file_prefix = "hubble";
  std::string format = "pcap";
  bool bidirectional = false;
};

struct Global {
  cli::ClientOptions client;
  bool json = false;
};

class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string to_json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

[[noreturn]] void fail_status(const grpc::Status& status) {
  throw Failure(status.error_message().empty()
                    ? "rpc failed with code " + std::to_string(status.error_code())
                    : status.error_message());
}

void set_deadline(grpc::ClientContext& context, int seconds = 60) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

pb::StartRecording build_start(const RecordFlags& f) {
  pb::StartRecording start;
  start.mutable_filesink()->set_file_prefix(f.file_prefix);
  if (f.filters.empty()) {
    throw Failure("at least one filter is required, e.g. \"10.0.0.0/8 0 10.1.2.3 443 TCP\"");
  }
  for (const auto& text : f.filters) {
    std::string note;
    auto filter = parse_filter(text, &note);
    if (!filter) throw Failure("filter \"" + text + "\": " + filter.error().message());
    // Accepted as Hubble did (host bits cleared); say so, since the file holds what was used.
    if (!note.empty()) fmt::print(stderr, "warning: filter \"{}\": {}\n", text, note);
    std::vector<Filter> all{*filter};
    if (f.bidirectional) {
      Filter back = reversed(*filter);
      if (!(back == *filter)) all.push_back(back);
    }
    for (const auto& one : all) service::to_proto_filter(one, start.add_include());
  }
  start.set_max_capture_length(f.max_capture_len);
  auto* stop = start.mutable_stop_condition();
  stop->set_packets_captured_count(f.packet_limit);
  auto bytes = service::parse_size(f.bytes_limit);
  if (!bytes) throw Failure("--bytes-limit: " + bytes.error().message());
  stop->set_bytes_captured_count(*bytes);
  auto duration = service::parse_duration(f.time_limit);
  if (!duration) throw Failure("--time-limit: " + duration.error().message());
  stop->mutable_time_elapsed()->set_seconds(duration->count() / 1000000000);
  stop->mutable_time_elapsed()->set_nanos(static_cast<int32_t>(duration->count() % 1000000000));
  start.set_format(f.format == "pcapng" ? pb::FILE_FORMAT_PCAPNG : pb::FILE_FORMAT_PCAP);
  return start;
}

std::string stats_line(const pb::RecordingStatistics& s) {
  return fmt::format("{} packets ({}) written, {} packets lost", s.packets_captured(),
                     service::format_size(s.bytes_captured()), s.packets_lost());
}

std::string_view state_name(pb::RecordingState s) {
  switch (s) {
    case pb::RECORDING_STATE_RUNNING:
      return "running";
    case pb::RECORDING_STATE_STOPPING:
      return "stopping";
    case pb::RECORDING_STATE_STOPPED:
      return "stopped";
    default:
      return "unknown";
  }
}

std::string reason_name(pb::StopReason r) {
  if (r == pb::STOP_REASON_UNSPECIFIED) return "-";
  std::string name = pb::StopReason_Name(r).substr(std::strlen("STOP_REASON_"));
  for (char& c : name) c = c == '_' ? ' ' : static_cast<char>(std::tolower(c));
  return name;
}

std::shared_ptr<grpc::Channel> channel_for(const Global& g) {
  auto channel = cli::make_channel(g.client);
  if (!channel) throw Failure(channel.error().message());
  return *channel;
}

// --- record: Hubble's Record stream in the foreground --------------------------------------

int cmd_record(const Global& g, const RecordFlags& f) {
  pb::RecordRequest request;
  *request.mutable_start() = build_start(f);
  // Ctrl-C / SIGTERM send `stop` (a second one cancels); handled on a thread with sigtimedwait.
  // Blocked before the channel exists, so gRPC's threads inherit the mask and the signal can
  // only be taken by sigtimedwait().
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto stub = pb::Recorder::NewStub(channel_for(g));

  grpc::ClientContext context;
  auto stream = stub->Record(&context);
  std::mutex write_mutex;
  std::atomic<bool> done{false};
  {
    std::lock_guard lock(write_mutex);
    if (!stream->Write(request)) {
      fail_status(stream->Finish());
    }
  }
  std::thread signal_thread([&] {
    int presses = 0;
    timespec timeout{0, 100 * 1000 * 1000};
    while (!done.load()) {
      if (sigtimedwait(&signals, nullptr, &timeout) < 0) continue;
      if (++presses == 1) {
        std::fprintf(stderr, "\nstopping...\n");
        pb::RecordRequest stop;
        stop.mutable_stop();
        std::lock_guard lock(write_mutex);
        stream->Write(stop);
      } else {
        context.TryCancel();
      }
    }
  });

  bool tty = ::isatty(STDERR_FILENO) != 0;
  bool started = false;
  pb::RecordResponse response;
  pb::RecordResponse stopped;
  bool have_stopped = false;
  while (stream->Read(&response)) {
    if (response.has_running()) {
      if (!started) {
        started = true;
        if (!g.json) {
          std::fprintf(stderr, "Started recording %llu on node %s. Press Ctrl-C to stop.\n",
                       static_cast<unsigned long long>(response.running().recording_id()),
                       response.node_name().c_str());
        }
      }
      if (tty && !g.json) {
        std::fprintf(stderr, "\r\033[K%s", stats_line(response.running().stats()).c_str());
        std::fflush(stderr);
      }
    } else if (response.has_stopped()) {
      stopped = response;
      have_stopped = true;
    }
  }
  done.store(true);
  signal_thread.join();
  grpc::Status status = stream->Finish();
  if (tty && started && !g.json) std::fprintf(stderr, "\n");
  if (have_stopped) {
    const auto& s = stopped.stopped();
    if (g.json) {
      std::cout << to_json(stopped) << std::endl;
    } else {
      std::cout << "Stopped recording (" << reason_name(s.stop_reason()) << ") after "
                << stats_line(s.stats()) << ".\n"
                << "Output written to: " << s.filesink().file_path() << std::endl;
    }
  }
  if (!status.ok()) fail_status(status);
  if (!have_stopped) throw Failure("the stream ended without a stopped message");
  return 0;
}

// --- detached recordings -------------------------------------------------------------------

// What the daemon's capture could not hand on exactly (nothing when all is well).
void print_capture_health(const pb::CaptureHealth& h) {
  for (const auto& u : h.unclassified()) {
    std::cout << "unclassified: " << u.packets() << " packets on "
              << (u.interface().empty() ? "ifindex " + std::to_string(u.ifindex()) : u.interface())
              << " " << u.direction()
              << " (a header truncated, malformed or beyond the parse limits; they reached only "
                 "filters needing no port, protocol or address they lacked)\n";
  }
  if (h.malformed_samples() != 0) {
    std::cout << "malformed:    " << h.malformed_samples() << " kernel samples dropped\n";
  }
}

// The "captured:" and "lost:" lines of a recording's or a ring's status.
std::string counts_text(const pb::RecordingStatistics& s) {
  return fmt::format(
      "captured:     {} packets, {}\nlost:         {} packets (kernel {}, queue {}, write {})\n",
      s.packets_captured(), service::format_size(s.bytes_captured()), s.packets_lost(),
      s.loss().kernel_packets(), s.loss().queue_packets(), s.loss().write_packets());
}

// One "filter:" line per include filter, as `recorderctl start` takes them.
void print_filters(const google::protobuf::RepeatedPtrField<pb::Filter>& include) {
  for (const auto& f : include) {
    std::cout << "filter:       " << (f.source_cidr().empty() ? "any" : f.source_cidr()) << " "
              << f.source_port() << " "
              << (f.destination_cidr().empty() ? "any" : f.destination_cidr()) << " "
              << f.destination_port() << " "
              << pb::Protocol_Name(f.protocol()).substr(std::strlen("PROTOCOL_")) << "\n";
  }
}

void print_info(const pb::RecordingInfo& info) {
  std::cout << "id:           " << info.id() << "\n"
            << "state:        " << state_name(info.state()) << "\n"
            << "stop reason:  " << reason_name(info.stop_reason())
            << (info.stop_message().empty() ? "" : " (" + info.stop_message() + ")") << "\n"
            << "node:         " << info.node_name() << "\n"
            << counts_text(info.stats())
            << "file:         " << (info.file_path().empty() ? "-" : info.file_path()) << " ("
            << service::format_size(info.file_size()) << ")\n"
            << "format:       " << (info.format() == pb::FILE_FORMAT_PCAPNG ? "pcapng" : "pcap")
            << ", snap length " << info.snap_length() << "\n";
  print_filters(info.include());
  // A relay's cluster-wide recording: each node's part, and why a node is missing.
  for (const auto& n : info.nodes()) {
    std::cout << "on node:      " << n.node_name()
              << (n.node_name() == n.address() ? "" : " (" + n.address() + ")") << ": "
              << state_name(n.state()) << ", " << n.stats().packets_captured() << " captured, "
              << n.stats().packets_lost() << " lost, " << n.packets_merged() << " in the file"
              << (n.error().empty() ? "" : "; FAILED: " + n.error()) << "\n";
  }
  print_capture_health(info.capture_health());
}

// One unary call on a service of ours (Recordings, Rings): a stub, a context with its deadline,
// and the server's message as the failure when the call fails.
template <typename Stub, typename Request, typename Response>
Response call(const Global& g,
              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
              const Request& request, int deadline_seconds = 60) {
  Stub stub(channel_for(g));
  grpc::ClientContext context;
  set_deadline(context, deadline_seconds);
  Response response;
  auto status = (stub.*method)(&context, request, &response);
  if (!status.ok()) fail_status(status);
  return response;
}

int cmd_start(const Global& g, const RecordFlags& f) {
  pb::StartRequest request;
  *request.mutable_recording() = build_start(f);
  const auto response = call(g, &pb::Recordings::Stub::Start, request);
  if (g.json) {
    std::cout << to_json(response) << std::endl;
  } else {
    std::cout << response.id() << std::endl;
  }
  return 0;
}

// Follows List's pages to the end: a daemon with many recordings answers in bounded pages.
int cmd_list(const Global& g) {
  pb::ListResponse all;
  pb::ListRequest request;
  do {
    auto page = call(g, &pb::Recordings::Stub::List, request);
    for (auto& info : *page.mutable_recordings()) *all.add_recordings() = std::move(info);
    *all.mutable_capture_health() = page.capture_health();  // the latest
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (g.json) {
    std::cout << to_json(all) << std::endl;
    return 0;
  }
  std::cout << fmt::format("{:>6}  {:<9} {:<16} {:>10} {:>10} {:>8}  {}\n", "ID", "STATE", "REASON",
                           "PACKETS", "SIZE", "LOST", "FILE");
  for (const auto& info : all.recordings()) {
    std::cout << fmt::format(
        "{:>6}  {:<9} {:<16} {:>10} {:>10} {:>8}  {}\n", info.id(), state_name(info.state()),
        reason_name(info.stop_reason()), info.stats().packets_captured(),
        service::format_size(info.file_size()), info.stats().packets_lost(), info.file_name());
  }
  print_capture_health(all.capture_health());
  return 0;
}

// A recording's info as the user asked for it: JSON for scripts, else the readable form.
void print_recording(const Global& g, const pb::RecordingInfo& info) {
  if (g.json) {
    std::cout << to_json(info) << std::endl;
  } else {
    print_info(info);
  }
}

int cmd_status(const Global& g, uint64_t id) {
  pb::GetRequest request;
  request.set_id(id);
  print_recording(g, call(g, &pb::Recordings::Stub::Get, request));
  return 0;
}

int cmd_stop(const Global& g, uint64_t id) {
  pb::StopRequest request;
  request.set_id(id);
  // Stopping drains the recording's queue to disk: allow it time.
  print_recording(g, call(g, &pb::Recordings::Stub::Stop, request, 300));
  return 0;
}

int cmd_delete(const Global& g, uint64_t id) {
  pb::DeleteRequest request;
  request.set_id(id);
  call(g, &pb::Recordings::Stub::Delete, request);
  if (g.json) {
    std::cout << "{\"id\": " << id << ", \"deleted\": true}" << std::endl;
  } else {
    std::cout << "deleted recording " << id << std::endl;
  }
  return 0;
}

// The name fetch saves under when no -o is given: the server's file name only when it is a
// plain name of the form the daemon makes for this recording (sink/file_naming.h), so a
// hostile server cannot make fetch write to ../x, .bashrc or any other file.
std::string local_name_for(uint64_t id, const std::string& server_name) {
  const std::string shown =
      server_name.size() > 80 ? server_name.substr(0, 80) + "..." : server_name;
  auto parsed = sink::parse_recording_file_name(server_name);
  if (!storage::is_plain_name(server_name) || !parsed || parsed->id != id ||
      sink::recording_file_name(parsed->prefix, parsed->start, parsed->id, parsed->node,
                                parsed->format) != server_name) {
    throw Failure(fmt::format(
        "recording {}: the server's file name \"{}\" is not a recording file name for this "
        "recording (<prefix>_<time>_{}_<node>.pcap[ng]); refusing to use it, give -o FILE",
        id, shown, id));
  }
  return server_name;
}

int cmd_fetch(const Global& g, uint64_t id, std::string output) {
  // How much of an existing file is compared with the server's bytes before resuming into it.
  constexpr uint64_t kResumeCheckBytes = 1u << 20;
  auto channel = channel_for(g);
  auto stub = pb::Recordings::NewStub(channel);
  if (output.empty()) {
    grpc::ClientContext context;
    set_deadline(context);
    pb::GetRequest request;
    request.set_id(id);
    pb::RecordingInfo info;
    auto status = stub->Get(&context, request, &info);
    if (!status.ok()) fail_status(status);
    if (info.file_name().empty())
      throw Failure(fmt::format("recording {} has no file to fetch", id));
    output = local_name_for(id, info.file_name());
  }
  const fs::path out_path(output);
  auto dir = storage::Directory::open(out_path.has_parent_path() ? out_path.parent_path() : ".");
  if (!dir) throw Failure(dir.error().message());
  const std::string name = out_path.filename().string();

  // A new file is created exclusively; an existing one (no link of either kind) is resumed only
  // if its tail equals the recording's bytes at the same offsets.
  uint64_t have = 0;
  auto file = dir->open_file(name, O_RDWR);
  if (file) {
    struct stat st {};
    if (::fstat(file->get(), &st) != 0) {
      throw Failure(fmt::format("stat {}: {}", output, std::strerror(errno)));
    }
    have = static_cast<uint64_t>(st.st_size);
  } else if (file.error().code() == ErrorCode::kNotFound) {
    file = dir->create_file(name, O_WRONLY);
    if (!file) throw Failure(file.error().message());
  } else {
    throw Failure(file.error().message());
  }
  const int fd = file->get();
  const uint64_t offset = have > kResumeCheckBytes ? have - kResumeCheckBytes : 0;
  auto not_ours = [&](const std::string& why) {
    return Failure(
        fmt::format("{} already exists and does not hold the beginning of recording {} "
                    "({}); not resuming into it: remove it or give another -o",
                    output, id, why));
  };

  grpc::ClientContext context;
  pb::DownloadRequest request;
  request.set_id(id);
  request.set_offset(offset);
  auto reader = stub->Download(&context, request);
  pb::DownloadChunk chunk;
  uint64_t at = offset;  // file offset of the next byte expected from the server
  uint64_t file_size = 0;
  std::string local;
  while (reader->Read(&chunk)) {
    file_size = chunk.file_size();
    if (chunk.offset() != at) {
      context.TryCancel();
      throw Failure(fmt::format("download of recording {}: chunk at offset {}, expected {}", id,
                                chunk.offset(), at));
    }
    if (file_size < have) {
      context.TryCancel();
      throw not_ours(fmt::format("it has {} bytes, the recording {}", have, file_size));
    }
    const std::string& data = chunk.data();
    size_t skip = 0;
    if (at < have) {  // bytes we hold already: they must be the same
      skip = static_cast<size_t>(std::min<uint64_t>(have - at, data.size()));
      local.resize(skip);
      const ssize_t n = ::pread(fd, local.data(), skip, static_cast<off_t>(at));
      if (n != static_cast<ssize_t>(skip) || std::memcmp(local.data(), data.data(), skip) != 0) {
        context.TryCancel();
        throw not_ours(fmt::format("its bytes from offset {} differ", at));
      }
    }
    size_t done = skip;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(at + done));
      if (n < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        context.TryCancel();
        throw Failure(fmt::format("write {}: {}", output, std::strerror(err)));
      }
      done += static_cast<size_t>(n);
    }
    at += data.size();
  }
  auto status = reader->Finish();
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE && have > 0) {
      throw not_ours("it is longer than the recording's file");
    }
    fail_status(status);
  }
  if (at != file_size) {
    throw Failure(
        fmt::format("download of recording {} incomplete: {} of {} bytes", id, at, file_size));
  }
  if (::fsync(fd) != 0) throw Failure(fmt::format("fsync {}: {}", output, std::strerror(errno)));
  const uint64_t received = at - std::max(offset, have);
  std::string path = fs::absolute(output).string();
  if (g.json) {
    std::cout << fmt::format(
                     "{{\"id\": {}, \"path\": \"{}\", \"file_size\": {}, "
                     "\"bytes_received\": {}, \"resumed_from\": {}}}",
                     id, path, file_size, received, have)
              << std::endl;
  } else {
    std::cout << fmt::format("fetched recording {} to {} ({} bytes{})", id, path, file_size,
                             have > 0 ? fmt::format(", resumed at {}", have) : "")
              << std::endl;
  }
  return 0;
}

// --- rings and snapshots -------------------------------------------------------------------

std::string time_text(const google::protobuf::Timestamp& t) {
  const auto seconds = static_cast<time_t>(t.seconds());
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, t.nanos() / 1000000);
}

std::string duration_text(const google::protobuf::Duration& d) {
  return service::format_duration(std::chrono::seconds(d.seconds()) +
                                  std::chrono::nanoseconds(d.nanos()));
}

void print_ring(const Global& g, const pb::RingInfo& info) {
  if (g.json) {
    std::cout << to_json(info) << std::endl;
    return;
  }
  const auto& c = info.config();
  std::cout << "name:         " << c.name() << "\n"
            << "state:        " << (info.state() == pb::RING_STATE_RUNNING ? "running" : "stopped")
            << "\n"
            << "node:         " << info.node_name() << "\n"
            << "budget:       max size "
            << (c.max_bytes() == 0 ? "-" : service::format_size(c.max_bytes())) << ", max age "
            << (c.has_max_age() ? duration_text(c.max_age()) : "-") << "\n"
            << "chunks:       " << info.chunks() << " (" << service::format_size(info.bytes())
            << "), chunk size " << service::format_size(c.chunk_bytes()) << ", chunk duration "
            << duration_text(c.chunk_duration()) << ", " << info.chunks_deleted() << " deleted\n"
            << "holds:        "
            << (info.has_oldest() ? time_text(info.oldest()) + " to " + time_text(info.newest())
                                  : std::string("nothing yet"))
            << "\n"
            << counts_text(info.stats())
            << "format:       " << (c.format() == pb::FILE_FORMAT_PCAPNG ? "pcapng" : "pcap")
            << ", snap length " << c.max_capture_length() << "\n";
  print_filters(c.include());
  if (!info.message().empty()) std::cout << "message:      " << info.message() << "\n";
}

int cmd_ring_start(const Global& g, const service::RingFlags& f) {
  auto config = service::ring_config(f);
  if (!config) throw Failure(config.error().message());
  pb::StartRingRequest request;
  *request.mutable_ring() = *config;
  print_ring(g, call(g, &pb::Rings::Stub::Start, request));
  return 0;
}

int cmd_ring_list(const Global& g) {
  auto all = call(g, &pb::Rings::Stub::List, pb::ListRingsRequest());
  if (g.json) {
    std::cout << to_json(all) << std::endl;
    return 0;
  }
  std::cout << fmt::format("{:<20} {:<8} {:>7} {:>10} {:<24} {:<24} {:>10} {:>8}\n", "NAME",
                           "STATE", "CHUNKS", "SIZE", "OLDEST", "NEWEST", "PACKETS", "LOST");
  for (const auto& r : all.rings()) {
    std::cout << fmt::format(
        "{:<20} {:<8} {:>7} {:>10} {:<24} {:<24} {:>10} {:>8}\n", r.config().name(),
        r.state() == pb::RING_STATE_RUNNING ? "running" : "stopped", r.chunks(),
        service::format_size(r.bytes()), r.has_oldest() ? time_text(r.oldest()) : "-",
        r.has_newest() ? time_text(r.newest()) : "-", r.stats().packets_captured(),
        r.stats().packets_lost());
  }
  return 0;
}

int cmd_ring_status(const Global& g, const std::string& name) {
  pb::GetRingRequest request;
  request.set_name(name);
  print_ring(g, call(g, &pb::Rings::Stub::Get, request));
  return 0;
}

int cmd_ring_stop(const Global& g, const std::string& name) {
  pb::StopRingRequest request;
  request.set_name(name);
  print_ring(g, call(g, &pb::Rings::Stub::Stop, request, 300));
  return 0;
}

int cmd_ring_delete(const Global& g, const std::string& name) {
  pb::DeleteRingRequest request;
  request.set_name(name);
  call(g, &pb::Rings::Stub::Delete, request, 300);
  if (g.json) {
    std::cout << fmt::format("{{\"name\": \"{}\", \"deleted\": true}}", name) << std::endl;
  } else {
    std::cout << "deleted ring " << name << std::endl;
  }
  return 0;
}

struct SnapshotFlags {
  std::string name;
  std::vector<std::string> filters;
  std::string last, from, to;
  std::string output;
};

int cmd_snapshot(const Global& g, const SnapshotFlags& f) {
  pb::SnapshotRequest request;
  request.set_name(f.name);
  if (!f.last.empty()) {
    if (!f.from.empty() || !f.to.empty()) throw Failure("give either --last or --from/--to");
    auto d = service::parse_duration(f.last);
    if (!d) throw Failure("--last: " + d.error().message());
    request.mutable_last()->set_seconds(d->count() / 1000000000);
    request.mutable_last()->set_nanos(static_cast<int32_t>(d->count() % 1000000000));
  }
  for (const auto& [flag, text, out] : {std::tuple{"--from", &f.from, request.mutable_from()},
                                        std::tuple{"--to", &f.to, request.mutable_to()}}) {
    if (text->empty()) {
      continue;
    }
    auto t = service::parse_time(*text);
    if (!t) throw Failure(std::string(flag) + ": " + t.error().message());
    out->set_seconds(static_cast<int64_t>(*t / 1000000000u));
    out->set_nanos(static_cast<int32_t>(*t % 1000000000u));
  }
  if (f.from.empty()) request.clear_from();
  if (f.to.empty()) request.clear_to();
  for (const auto& text : f.filters) {
    auto filter = parse_filter(text);
    if (!filter) throw Failure("filter \"" + text + "\": " + filter.error().message());
    service::to_proto_filter(*filter, request.add_include());
  }
  auto response = call(g, &pb::Rings::Stub::Snapshot, request, 600);
  const auto& info = response.recording();
  if (g.json) {
    std::cout << to_json(response) << std::endl;
  } else {
    std::cout << fmt::format(
                     "snapshot of ring {} in recording {}: {} packets ({}), {} chunks read, {} "
                     "packets examined\nfile: {}",
                     f.name, info.id(), info.stats().packets_captured(),
                     service::format_size(info.file_size()), response.chunks_read(),
                     response.packets_examined(), info.file_path())
              << std::endl;
  }
  if (!f.output.empty()) return cmd_fetch(g, info.id(), f.output);
  return 0;
}

void add_record_flags(CLI::App* cmd, RecordFlags& f) {
  cmd->add_option("filters", f.filters,
                  "filters: \"SRC_CIDR SRC_PORT DST_CIDR DST_PORT PROTOCOL\" (ports 0 = any; "
                  "PROTOCOL: ANY, TCP, UDP, SCTP, ICMP, ICMPv6)")
      ->required();
  cmd->add_option("--packet-limit", f.packet_limit, "stop after this many packets (0: none)");
  cmd->add_option("--bytes-limit", f.bytes_limit,
                  "stop after this many bytes, e.g. 10MB (0: none)");
  cmd->add_option("--time-limit", f.time_limit, "stop after this long, e.g. 30s, 5m (0: none)");
  cmd->add_option("--max-capture-len", f.max_capture_len,
                  "bytes captured per packet (0: whole packet)");
  cmd->add_option("--file-prefix", f.file_prefix, "file name prefix")->capture_default_str();
  cmd->add_option("--format", f.format, "file format")
      ->check(CLI::IsMember({"pcap", "pcapng"}))
      ->capture_default_str();
  cmd->add_flag("--bidirectional", f.bidirectional,
                "also record the reverse direction of each filter");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"recorderctl: control pcap-recorder's recorderd"};
  app.require_subcommand(1);
  Global g;
  app.add_option("--server", g.client.server, "unix:///path or host:port of recorderd")
      ->capture_default_str();
  app.add_option("--tls-ca", g.client.tls_ca, "CA (PEM) to verify a TCP server");
  app.add_option("--tls-cert", g.client.tls_cert, "client certificate (PEM) for mutual TLS");
  app.add_option("--tls-key", g.client.tls_key, "client key (PEM) for mutual TLS");
  app.add_flag("--json", g.json, "print results as JSON");

  RecordFlags record_flags, start_flags;
  uint64_t id = 0;
  std::string output;
  auto* record = app.add_subcommand("record", "record in the foreground until a limit or Ctrl-C");
  add_record_flags(record, record_flags);
  auto* start = app.add_subcommand("start", "start a detached recording and print its id");
  add_record_flags(start, start_flags);
  auto* list = app.add_subcommand("list", "list running and finished recordings");
  auto* status = app.add_subcommand("status", "show one recording");
  status->add_option("id", id, "recording id")->required();
  auto* stop = app.add_subcommand("stop", "stop a recording (idempotent)");
  stop->add_option("id", id, "recording id")->required();
  auto* fetch = app.add_subcommand("fetch", "download a finished recording's file (resumable)");
  fetch->add_option("id", id, "recording id")->required();
  fetch->add_option("-o,--output", output,
                    "output file (default: the recording's file name, if it is one the daemon "
                    "makes); an existing file is resumed only if it holds the recording's "
                    "beginning");
  auto* del = app.add_subcommand("delete", "delete a finished recording and its file");
  del->add_option("id", id, "recording id")->required();

  auto* ring = app.add_subcommand("ring", "flight-recorder rings: always-on capture to disk");
  ring->require_subcommand(1);
  service::RingFlags ring_flags;
  std::string ring_name;
  auto* ring_start = ring->add_subcommand("start", "start (or restart) a ring");
  ring_start->add_option("name", ring_flags.name, "ring name (^[a-z][a-z0-9-]*$)")->required();
  ring_start
      ->add_option("filters", ring_flags.filters,
                   "filters: \"SRC_CIDR SRC_PORT DST_CIDR DST_PORT PROTOCOL\"; \"any 0 any 0 "
                   "ANY\" for everything")
      ->required();
  ring_start->add_option("--max-size", ring_flags.max_size,
                         "delete the oldest chunks beyond this, e.g. 10GiB (0: no size budget)");
  ring_start->add_option("--max-age", ring_flags.max_age,
                         "delete chunks older than this, e.g. 24h (0: no age limit)");
  ring_start->add_option("--chunk-size", ring_flags.chunk_size,
                         "chunk file size, e.g. 256MiB (default: 256MiB, at most max-size/4)");
  ring_start->add_option("--chunk-duration", ring_flags.chunk_duration,
                         "also close a chunk when its packets span this long (default 10m; "
                         "0: by size only)");
  ring_start->add_option("--max-capture-len", ring_flags.max_capture_len,
                         "bytes captured per packet (0: whole packet)");
  ring_start->add_option("--format", ring_flags.format, "chunk and snapshot format")
      ->check(CLI::IsMember({"pcap", "pcapng"}))
      ->capture_default_str();
  auto* ring_list = ring->add_subcommand("list", "list the rings");
  auto* ring_status = ring->add_subcommand("status", "show one ring");
  ring_status->add_option("name", ring_name, "ring name")->required();
  auto* ring_stop = ring->add_subcommand("stop", "stop a ring's capture (its chunks stay)");
  ring_stop->add_option("name", ring_name, "ring name")->required();
  auto* ring_del = ring->add_subcommand("delete", "stop a ring and delete it with its chunks");
  ring_del->add_option("name", ring_name, "ring name")->required();

  SnapshotFlags snapshot_flags;
  auto* snapshot = app.add_subcommand(
      "snapshot", "cut a ring's packets of a time range into a new recording (prints its id)");
  snapshot->add_option("name", snapshot_flags.name, "ring name")->required();
  snapshot->add_option("filters", snapshot_flags.filters,
                       "keep only packets matching one of these filters (default: all)");
  snapshot->add_option("--last", snapshot_flags.last, "the last DURATION up to now, e.g. 10m");
  snapshot->add_option("--from", snapshot_flags.from,
                       "from this time: RFC 3339 (2026-11-27T16:00:00Z) or unix seconds");
  snapshot->add_option("--to", snapshot_flags.to, "to this time (inclusive)");
  snapshot->add_option("-o,--output", snapshot_flags.output, "also download it to FILE");

  // Global flags may also follow the subcommand.
  for (auto* sub : {record, start, list, status, stop, fetch, del, ring, ring_start, ring_list,
                    ring_status, ring_stop, ring_del, snapshot}) {
    sub->fallthrough();
  }

  CLI11_PARSE(app, argc, argv);
  try {
    if (*record) return cmd_record(g, record_flags);
    if (*start) return cmd_start(g, start_flags);
    if (*list) return cmd_list(g);
    if (*status) return cmd_status(g, id);
    if (*stop) return cmd_stop(g, id);
    if (*fetch) return cmd_fetch(g, id, output);
    if (*del) return cmd_delete(g, id);
    if (*ring_start) return cmd_ring_start(g, ring_flags);
    if (*ring_list) return cmd_ring_list(g);
    if (*ring_status) return cmd_ring_status(g, ring_name);
    if (*ring_stop) return cmd_ring_stop(g, ring_name);
    if (*ring_del) return cmd_ring_delete(g, ring_name);
    if (*snapshot) return cmd_snapshot(g, snapshot_flags);
  } catch (const Failure& e) {
    std::cerr << "recorderctl: " << e.what() << std::endl;
    return 1;
  }
  return 1;
}
