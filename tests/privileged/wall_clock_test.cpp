// WallClock: BPF (CLOCK_MONOTONIC) timestamps convert to CLOCK_REALTIME within a small error,
// and an unchanged clock is not reported as stepped. (Stepping the machine's clock in a test
// would disturb everything else running, so the step path is exercised by the daemon's
// fault tests, not here.)
#include <gtest/gtest.h>
#include <time.h>

#include "datapath/wall_clock.h"
#include "privileged.h"

namespace recorder::datapath {
namespace {

int64_t now_ns(clockid_t id) {
  timespec t;
  clock_gettime(id, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

TEST(WallClock, ConvertsMonotonicToRealtime) {
  WallClock clock;
  for (int i = 0; i < 100; ++i) {
    const int64_t mono = now_ns(CLOCK_MONOTONIC);
    const int64_t real = now_ns(CLOCK_REALTIME);
    EXPECT_LT(std::abs(static_cast<int64_t>(clock.to_wall_ns(mono)) - real), 1'000'000);
  }
  const int64_t before = clock.offset_ns();
  clock.resync();
  EXPECT_LT(std::abs(clock.offset_ns() - before), 1'000'000);
  EXPECT_GE(clock.step_fd(), 0);
  EXPECT_FALSE(clock.check_step());
}

}  // namespace
}  // namespace recorder::datapath

// Registered once for the whole privileged test binary.
static ::testing::Environment* const kNoLeftovers =
    ::testing::AddGlobalTestEnvironment(new recorder::testing::NoLeftoversEnvironment);
