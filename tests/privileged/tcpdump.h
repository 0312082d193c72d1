// Tcpdump: runs `tcpdump -i <dev> -w <file> <filter>` as the reference capture for the veth
// tests, started and stopped (SIGINT, which flushes the file) by the test; killed in the
// destructor if still running.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace recorder::testing {

class Tcpdump {
 public:
  Tcpdump(const std::string& dev, const std::string& file, const std::string& filter,
          const std::string& log)
      : log_(log) {
    std::vector<std::string> args = {"tcpdump", "-i",     dev,   "-w", file,   "-U",
                                     "-s",      "262144", "-nn", "-Z", "root", "--immediate-mode",
                                     "-B",      "65536",  filter};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid_, "tcpdump", &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    // Ready once it says it is listening.
    for (int i = 0; i < 100 && pid_ > 0; ++i) {
      std::ifstream in(log);
      std::stringstream ss;
      ss << in.rdbuf();
      if (ss.str().find("listening on") != std::string::npos) {
        ready_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~Tcpdump() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ready() const { return ready_; }
  // After stop(): tcpdump's own summary ("N packets received by filter", "... dropped by
  // kernel"), -1 when absent.
  long summary(const std::string& what) const {
    std::ifstream in(log_);
    std::string line;
    while (std::getline(in, line)) {
      const auto at = line.find(what);
      if (at != std::string::npos) return std::stol(line.substr(0, at));
    }
    return -1;
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGINT);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace recorder::testing
