// ListeningProcess: a capturer run as a child process the way a user runs it (tcpdump, the
// datapath_bench harness), or the bench's bare gRPC server (grpc_idle_floor). Its stdout and
// stderr go to a log file; it is ready once it writes "listening on" there (all of them print
// that when they capture or serve); stop() ends it with SIGINT, which makes it finish its file.
// Killed in the destructor if still running (also when the test fails).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "spawn_process.h"

namespace recorder::testing {

class ListeningProcess {
 public:
  // Starts `args` (args[0] looked up in PATH) and returns once it listens, exits or 120 s pass
  // (loading and verifying BPF programs takes seconds on a busy machine).
  ListeningProcess(const std::vector<std::string>& args, std::string log) : log_(std::move(log)) {
    std::ofstream(log_, std::ios::trunc);  // "listening on" must be this run's
    pid_ = test::spawn(args, log_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      if (output().find("listening on") != std::string::npos) {
        ready_ = true;
        break;
      }
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {  // exited without listening
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~ListeningProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  ListeningProcess(const ListeningProcess&) = delete;
  ListeningProcess& operator=(const ListeningProcess&) = delete;

  bool ready() const { return ready_; }
  // Its process id while it runs; -1 once it exited or was stopped.
  pid_t pid() const { return pid_; }

  // What it wrote so far (stdout and stderr).
  std::string output() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // SIGINT, then waits for it; returns its exit status, -1 when it did not exit normally or
  // never started.
  int stop() {
    if (pid_ > 0) {
      kill(pid_, SIGINT);
      waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int status_ = -1;  // from waitpid, once it exited
  bool ready_ = false;
};

}  // namespace recorder::testing
