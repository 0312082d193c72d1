// CpuStress: `stress-ng --cpu N` running for the lifetime of the object, so a test can check that
// what it checks does not depend on a quiet machine (preemption, vCPU steal). The destructor
// stops it (SIGTERM: stress-ng's parent stops its workers) and reaps it on every way out of the
// test; --timeout bounds it too, in case the test process itself is killed.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "privileged.h"
#include "spawn_process.h"

namespace recorder::testing {

class CpuStress {
 public:
  explicit CpuStress(int workers, std::chrono::seconds bound = std::chrono::seconds(60)) {
    std::vector<std::string> args = {"stress-ng",
                                     "--cpu",
                                     std::to_string(workers),
                                     "--timeout",
                                     std::to_string(bound.count()) + "s",
                                     "--quiet"};
    pid_ = test::spawn(args, "/dev/null");
    // Running once its workers exist (children of the parent), or failed at start.
    for (int i = 0; i < 100 && pid_ > 0 && !running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~CpuStress() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  CpuStress(const CpuStress&) = delete;
  CpuStress& operator=(const CpuStress&) = delete;

  // stress-ng runs and has started at least one worker.
  bool running() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, nullptr, WNOHANG) != 0) {  // exited (reaped now) or not our child
      pid_ = -1;
      return false;
    }
    return sh_output("pgrep -P " + std::to_string(pid_)).find_first_of("0123456789") !=
           std::string::npos;
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace recorder::testing
