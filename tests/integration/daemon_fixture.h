// daemon_fixture.h: runs a real recorderd, recorder-relay (and recorderctl) for integration tests.
//
// Daemon (and Relay, where RECORDER_RELAY_PATH is defined) starts the binary with the given flags
// on a unix socket in its own temp dir, waits until the gRPC channel is ready, and in its
// destructor stops the process (SIGTERM, then SIGKILL after 10 s) and removes the temp dir
// (test::TempDir, tests/support/temp_dir.h), so a failing test leaves nothing behind.
// run_command() runs a process to completion and captures its exit code and output.
#pragma once

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "recorder.grpc.pb.h"
#include "spawn_process.h"
#include "temp_dir.h"

namespace recorder::test {
namespace fs = std::filesystem;

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits up to `timeout` for `pid`; returns its wait status, or -1 on timeout.
inline int wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

inline CommandResult run_command(const std::vector<std::string>& argv, const fs::path& dir,
                                 std::chrono::seconds timeout = std::chrono::seconds(60)) {
  static int counter = 0;
  fs::path log =
      dir / ("cmd-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".log");
  CommandResult result;
  pid_t pid = spawn(argv, log);
  if (pid < 0) {
    result.output = "spawn failed: " + argv[0];
    return result;
  }
  int status = wait_for_exit(pid, timeout);
  if (status == -1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    result.output = "timed out\n";
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.output += read_text(log);
  std::error_code ec;
  fs::remove(log, ec);
  return result;
}

// A server process (recorderd or recorder-relay) serving on a unix socket in its own temp dir.
// The destructor stops it (SIGTERM, then SIGKILL after 10 s) and removes the temp dir, so a
// failing test leaves nothing behind; it prints the process's log when the test failed.
class ServerProcess {
 public:
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      if (wait_for_exit(pid_, std::chrono::seconds(10)) == -1) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (::testing::Test::HasFailure()) {
      std::cerr << "---- " << name_ << " log ----\n"
                << read_text(log_) << "-----------------------\n";
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Sends SIGTERM and returns the exit status (-1 on timeout).
  int terminate(std::chrono::seconds timeout = std::chrono::seconds(15)) {
    ::kill(pid_, SIGTERM);
    int status = wait_for_exit(pid_, timeout);
    if (status != -1) pid_ = -1;
    return status;
  }

  // Simulates a crash: SIGKILL, reaped, nothing cleaned up by the process.
  void kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  pid_t pid() const { return pid_; }
  const fs::path& dir() const { return dir_.path(); }
  const fs::path& socket() const { return socket_; }
  std::string server() const { return "unix://" + socket_.string(); }
  std::string log() const { return read_text(log_); }
  // The log once it holds `text`, polling up to `timeout` (the log as it is then, if never). The
  // process accepts calls on its socket before it has logged everything of its start-up (the TCP
  // port, "recorderd ready"), so a test that reads those lines waits for them.
  std::string wait_for_log(std::string_view text,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string now = log();
    while (now.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      now = log();
    }
    return now;
  }
  pb::Recorder::Stub& recorder() { return *recorder_; }
  pb::Recordings::Stub& recordings() { return *recordings_; }

 protected:
  // `name`: the process's name in messages and its log file ("<name>.log" in dir()).
  explicit ServerProcess(const std::string& name)
      : name_(name), socket_(dir_.path() / (name + ".sock")), log_(dir_.path() / (name + ".log")) {}

  // Starts `argv`, waits until the socket exists and the gRPC channel is ready.
  void launch(const std::vector<std::string>& argv) {
    pid_ = spawn(argv, log_);
    if (pid_ < 0) throw std::runtime_error("could not start " + name_);
    channel_ =
        grpc::CreateChannel("unix://" + socket_.string(), grpc::InsecureChannelCredentials());
    auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(20);
    while (!fs::exists(socket_) && std::chrono::system_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error(name_ + " exited at start-up:\n" + read_text(log_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!channel_->WaitForConnected(deadline)) {
      throw std::runtime_error(name_ + " did not become ready:\n" + read_text(log_));
    }
    recorder_ = pb::Recorder::NewStub(channel_);
    recordings_ = pb::Recordings::NewStub(channel_);
  }

 private:
  std::string name_;
  TempDir dir_;
  fs::path socket_;
  fs::path log_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Recorder::Stub> recorder_;
  std::unique_ptr<pb::Recordings::Stub> recordings_;
};

// recorderd, with its storage in its temp dir unless told otherwise.
class Daemon : public ServerProcess {
 public:
  // `extra` flags come after the fixture's --storage-path, --socket and --node-name (itest,
  // unless `extra` names one).
  // `launcher` goes in front of the daemon's command line (e.g. {"/usr/bin/nsenter",
  // "--net=/run/netns/x"}: a launcher that execs the daemon in place, so the pid is the
  // daemon's).
  explicit Daemon(std::vector<std::string> extra, fs::path storage = {},
                  std::vector<std::string> launcher = {})
      : ServerProcess("recorderd"),
        storage_(storage.empty() ? dir() / "storage" : std::move(storage)) {
    std::vector<std::string> argv = std::move(launcher);
    argv.insert(argv.end(), {RECORDERD_PATH, "--storage-path", storage_.string(), "--socket",
                             socket().string()});
    if (std::find(extra.begin(), extra.end(), "--node-name") == extra.end()) {
      argv.insert(argv.end(), {"--node-name", "itest"});
    }
    // The temp filesystem may be nearly full on a dev machine: no free-space floor unless the
    // test sets one.
    if (std::find(extra.begin(), extra.end(), "--min-free-disk") == extra.end()) {
      argv.insert(argv.end(), {"--min-free-disk", "0"});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    launch(argv);
  }

  const fs::path& storage() const { return storage_; }

 private:
  fs::path storage_;
};

#ifdef RECORDER_RELAY_PATH
// recorder-relay in front of `peers` (--peers; none: give --peers-dns in `extra`), node name
// "relay", merged files in its temp dir unless `storage` says where; `launcher` as for Daemon.
class Relay : public ServerProcess {
 public:
  explicit Relay(const std::vector<std::string>& peers, std::vector<std::string> extra = {},
                 std::vector<std::string> launcher = {}, fs::path storage = {})
      : ServerProcess("recorder-relay"),
        storage_(storage.empty() ? dir() / "storage" : std::move(storage)) {
    std::string list;
    for (const auto& p : peers) list += (list.empty() ? "" : ",") + p;
    std::vector<std::string> argv = std::move(launcher);
    argv.insert(argv.end(), {RECORDER_RELAY_PATH, "--storage-path", storage_.string(), "--socket",
                             socket().string(), "--node-name", "relay"});
    if (!list.empty()) argv.insert(argv.end(), {"--peers", list});
    argv.insert(argv.end(), extra.begin(), extra.end());
    launch(argv);
  }

  const fs::path& storage() const { return storage_; }

 private:
  fs::path storage_;
};
#endif

// Starts, stops and deletes a detached recording `n` times (leak checks).
inline void start_stop_delete(ServerProcess& d, const pb::StartRequest& request, int n) {
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext c1;
    pb::StartResponse started;
    ASSERT_TRUE(d.recordings().Start(&c1, request, &started).ok());
    grpc::ClientContext c2;
    pb::StopRequest stop;
    stop.set_id(started.id());
    pb::RecordingInfo info;
    ASSERT_TRUE(d.recordings().Stop(&c2, stop, &info).ok());
    grpc::ClientContext c3;
    pb::DeleteRequest del;
    del.set_id(started.id());
    pb::DeleteResponse resp;
    ASSERT_TRUE(d.recordings().Delete(&c3, del, &resp).ok());
  }
}

// Polls Get every 20 ms until `done(info)` or `timeout` passes (or Get fails); returns the last
// RecordingInfo seen.
template <typename Done>
inline pb::RecordingInfo poll_recording(ServerProcess& d, uint64_t id,
                                        std::chrono::milliseconds timeout, Done done) {
  pb::RecordingInfo info;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    grpc::ClientContext c;
    pb::GetRequest g;
    g.set_id(id);
    if (!d.recordings().Get(&c, g, &info).ok()) break;
    if (done(info)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return info;
}

// Polls Get until the recording has stopped (a stop the daemon decides: disk full, interface
// gone) or `timeout` passes; returns the last RecordingInfo seen.
inline pb::RecordingInfo wait_until_stopped(ServerProcess& d, uint64_t id,
                                            std::chrono::milliseconds timeout) {
  return poll_recording(d, id, timeout, [](const pb::RecordingInfo& info) {
    return info.state() == pb::RECORDING_STATE_STOPPED;
  });
}

// Starts a detached recording of everything that stops after `packets` packets and waits until
// it has stopped; returns its final info.
inline pb::RecordingInfo record_packets(ServerProcess& d, uint64_t packets) {
  pb::StartRequest request;
  request.mutable_recording()->add_include();  // any, any protocol
  request.mutable_recording()->mutable_stop_condition()->set_packets_captured_count(packets);
  grpc::ClientContext ctx;
  pb::StartResponse started;
  auto status = d.recordings().Start(&ctx, request, &started);
  EXPECT_TRUE(status.ok()) << status.error_message();
  auto info = wait_until_stopped(d, started.id(), std::chrono::seconds(20));
  EXPECT_EQ(info.state(), pb::RECORDING_STATE_STOPPED) << "recording " << started.id();
  return info;
}

// Polls Get until the running recording has accounted for (captured or lost) at least `packets`
// packets, or `timeout` passes; returns the last RecordingInfo seen. The settle before stopping a
// recording whose traffic is known, without guessing how long the capture path takes.
inline pb::RecordingInfo wait_until_accounted(ServerProcess& d, uint64_t id, uint64_t packets,
                                              std::chrono::milliseconds timeout) {
  return poll_recording(d, id, timeout, [packets](const pb::RecordingInfo& info) {
    return info.stats().packets_captured() + info.stats().packets_lost() >= packets;
  });
}

// fd count and resident memory of a process (leak checks).
inline size_t fd_count(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    ++n;
  return n;
}
inline size_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

}  // namespace recorder::test
