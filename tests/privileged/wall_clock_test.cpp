// WallClock: BPF (CLOCK_MONOTONIC) timestamps convert to CLOCK_REALTIME within a small error,
// an unchanged clock is not reported as stepped, and a stepped one is noticed and followed.
//
// The step test really steps the machine's wall clock (+5 s) and puts it back at once, the
// restore computed from CLOCK_MONOTONIC so the clock ends up within microseconds of where it
// would have been. Privileged tests run one at a time, so nothing else sees the jump.
#include <gtest/gtest.h>
#include <time.h>

#include <cerrno>
#include <cstring>

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

// Steps CLOCK_REALTIME by `step_ns` for as long as it is alive, then puts it back.
class ClockStep {
 public:
  explicit ClockStep(int64_t step_ns)
      : real0_(now_ns(CLOCK_REALTIME)), mono0_(now_ns(CLOCK_MONOTONIC)) {
    ok_ = set(real0_ + step_ns);
  }
  ~ClockStep() {
    if (ok_) set(real0_ + (now_ns(CLOCK_MONOTONIC) - mono0_));
  }
  bool ok() const { return ok_; }

 private:
  static bool set(int64_t ns) {
    const timespec t{static_cast<time_t>(ns / 1'000'000'000),
                     static_cast<long>(ns % 1'000'000'000)};
    return clock_settime(CLOCK_REALTIME, &t) == 0;
  }
  int64_t real0_, mono0_;
  bool ok_ = false;
};

TEST(WallClock, FollowsAStepOfTheWallClock) {
  RECORDER_REQUIRE_ROOT();
  WallClock clock;
  const int64_t before = clock.offset_ns();
  constexpr int64_t kStep = 5'000'000'000;
  {
    ClockStep step(kStep);
    ASSERT_TRUE(step.ok()) << "clock_settime: " << std::strerror(errno);
    EXPECT_TRUE(clock.check_step()) << "the step was not noticed";
    // Timestamps now convert to the stepped wall clock.
    EXPECT_LT(std::abs(clock.offset_ns() - (before + kStep)), 1'000'000);
    const int64_t mono = now_ns(CLOCK_MONOTONIC);
    EXPECT_LT(std::abs(static_cast<int64_t>(clock.to_wall_ns(mono)) - now_ns(CLOCK_REALTIME)),
              1'000'000);
    EXPECT_FALSE(clock.check_step()) << "re-armed: no second report of the same step";
  }
  // Putting the clock back is a step too.
  EXPECT_TRUE(clock.check_step());
  EXPECT_LT(std::abs(clock.offset_ns() - before), 1'000'000);
}

}  // namespace
}  // namespace recorder::datapath

// Registered once for the whole privileged test binary.
static ::testing::Environment* const kNoLeftovers =
    ::testing::AddGlobalTestEnvironment(new recorder::testing::NoLeftoversEnvironment);
