// The wall clock in nanoseconds since the Unix epoch: packet and chunk times, snapshot ranges.
#pragma once

#include <chrono>
#include <cstdint>

namespace recorder {

inline uint64_t wall_clock_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace recorder
