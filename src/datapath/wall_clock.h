// WallClock: converts the BPF timestamps (bpf_ktime_get_ns, CLOCK_MONOTONIC) into wall-clock
// time: wall = monotonic + offset, offset = CLOCK_REALTIME - CLOCK_MONOTONIC.
//
// The offset is measured from a few back-to-back clock_gettime triples, keeping the one with
// the smallest monotonic gap (least disturbed by preemption). The owner re-syncs periodically
// (NTP slews the realtime clock) and immediately when the wall clock is stepped: a timerfd on
// CLOCK_REALTIME armed with TFD_TIMER_CANCEL_ON_SET becomes readable (read fails ECANCELED)
// when someone sets the clock. One thread (the reader) calls everything.
#pragma once

#include <cstdint>

#include "common/result.h"

namespace recorder::datapath {

class WallClock {
 public:
  WallClock();
  ~WallClock();
  WallClock(const WallClock&) = delete;
  WallClock& operator=(const WallClock&) = delete;

  // Re-measures the offset.
  void resync();
  // Poll this fd (POLLIN): readable when the wall clock was stepped.
  int step_fd() const { return timer_fd_; }
  // Call when step_fd() is readable (or to check without polling): re-syncs and re-arms when
  // the clock was stepped; returns whether it was.
  bool check_step();

  // Now, on the clock of bpf_ktime_get_ns() (CLOCK_MONOTONIC), as capture headers carry it.
  static uint64_t monotonic_now_ns();

  uint64_t to_wall_ns(uint64_t monotonic_ns) const {
    return static_cast<uint64_t>(static_cast<int64_t>(monotonic_ns) + offset_ns_);
  }
  int64_t offset_ns() const { return offset_ns_; }

 private:
  void arm();
  int64_t offset_ns_ = 0;
  int timer_fd_ = -1;
};

}  // namespace recorder::datapath
