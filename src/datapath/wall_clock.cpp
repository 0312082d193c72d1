#include "datapath/wall_clock.h"

#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace recorder::datapath {
namespace {

int64_t ns(const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

}  // namespace

uint64_t WallClock::monotonic_now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(ns(t));
}

WallClock::WallClock() {
  timer_fd_ = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) {
    // Without it a step of the wall clock is caught by the next periodic resync (1 s), not at
    // once: worth saying, not worth failing the capture.
    spdlog::warn(
        "create a timerfd to notice wall-clock steps: {}; steps are caught by the "
        "periodic resync only",
        std::strerror(errno));
  }
  resync();
  arm();
}

WallClock::~WallClock() {
  if (timer_fd_ >= 0) close(timer_fd_);
}

void WallClock::resync() {
  int64_t best_gap = std::numeric_limits<int64_t>::max();
  int64_t best = offset_ns_;
  for (int i = 0; i < 5; ++i) {
    timespec m1, r, m2;
    clock_gettime(CLOCK_MONOTONIC, &m1);
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m2);
    const int64_t gap = ns(m2) - ns(m1);
    if (gap < best_gap) {
      best_gap = gap;
      best = ns(r) - (ns(m1) + gap / 2);
    }
  }
  offset_ns_ = best;
}

void WallClock::arm() {
  if (timer_fd_ < 0) return;
  // An absolute expiry far away: the timer never fires, it only gets cancelled by a step.
  itimerspec spec{};
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  spec.it_value.tv_sec = now.tv_sec + 10 * 365 * 86400;
  if (timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, nullptr) !=
      0) {
    spdlog::warn(
        "arm the wall-clock step timerfd: {}; steps are caught by the periodic resync "
        "only",
        std::strerror(errno));
    close(timer_fd_);
    timer_fd_ = -1;
  }
}

bool WallClock::check_step() {
  if (timer_fd_ < 0) return false;
  uint64_t expirations;
  const ssize_t n = read(timer_fd_, &expirations, sizeof(expirations));
  if (n < 0 && errno == ECANCELED) {
    resync();
    arm();
    return true;
  }
  return false;
}

}  // namespace recorder::datapath
