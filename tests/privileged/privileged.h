// Helpers for the privileged tests: the root check (skip with a reason, or fail when
// RECORDER_REQUIRE_PRIVILEGED=1), shell commands, and RAII owners for the namespaces and veths
// a test creates, so they are removed also when the test fails.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

namespace recorder::testing {

inline bool privileged_required() {
  const char* v = std::getenv("RECORDER_REQUIRE_PRIVILEGED");
  return v != nullptr && std::string(v) == "1";
}

// Use at the top of every privileged test.
#define RECORDER_REQUIRE_ROOT()                                                            \
  do {                                                                                     \
    if (geteuid() != 0) {                                                                  \
      if (::recorder::testing::privileged_required()) {                                    \
        FAIL() << "needs root (BPF, tc, netns, mounts) and RECORDER_REQUIRE_PRIVILEGED=1"; \
      }                                                                                    \
      GTEST_SKIP() << "needs root for BPF, tc, network namespaces and mounts";             \
    }                                                                                      \
  } while (0)

// Runs a shell command; returns its exit status.
inline int sh(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Runs a shell command and returns its stdout.
inline std::string sh_output(const std::string& command) {
  std::string out;
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

// A unique "prt<pid><n>" name, at most 15 characters.
inline std::string unique_name(const char* tag) {
  static std::atomic<int> counter{0};
  std::string name = "prt" + std::to_string(getpid() % 100000) + tag + std::to_string(counter++);
  return name.substr(0, 15);
}

// Names the instances of a suite run with each transport (datapath::Transport or
// datapath::BpfTransport): "Perf" and "Ring". INSTANTIATE_TEST_SUITE_P(..., TransportName()).
struct TransportName {
  template <typename ParamInfo>
  std::string operator()(const ParamInfo& param_info) const {
    using Param = std::decay_t<decltype(param_info.param)>;
    return param_info.param == Param::kPerfBuffer ? "Perf" : "Ring";
  }
};

}  // namespace recorder::testing

namespace recorder::testing {

// At the end of the test binary: nothing this process created is left (namespaces, links).
class NoLeftoversEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (geteuid() != 0) return;
    const std::string prefix = "prt" + std::to_string(getpid() % 100000);
    EXPECT_EQ(sh_output("ip netns list | grep '^" + prefix + "' || true"), "");
    EXPECT_EQ(sh_output("ip -o link show | grep ' " + prefix + "' || true"), "");
  }
};

}  // namespace recorder::testing
