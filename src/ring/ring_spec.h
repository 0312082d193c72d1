// RingSpec: what a ring captures and how much of it it keeps, and its persisted form (the
// "ring.json" in the ring's directory, so a ring survives a restart of recorderd).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "dispatch/filter.h"
#include "sink/sink.h"

namespace recorder::ring {

inline constexpr uint64_t kDefaultChunkBytes = 256u << 20;
inline constexpr std::chrono::nanoseconds kDefaultChunkDuration = std::chrono::minutes(10);

struct RingSpec {
  std::string name;             // ^[a-z][a-z0-9-]{0,39}$: the directory and the snapshot prefix
  std::vector<Filter> include;  // at least one; `any 0 any 0 ANY` takes everything
  uint32_t snap_length = 0;     // effective (never 0 once validated)
  sink::FileFormat format = sink::FileFormat::kPcap;
  uint64_t max_bytes = 0;               // 0: no byte budget
  std::chrono::nanoseconds max_age{0};  // 0: no age limit (at least one of the two is set)
  uint64_t chunk_bytes = kDefaultChunkBytes;
  std::chrono::nanoseconds chunk_duration = kDefaultChunkDuration;  // 0: rotate by size only

  bool operator==(const RingSpec&) const = default;
};

// The persisted state: the spec and whether the ring was running (then it restarts at boot).
struct RingState {
  RingSpec spec;
  bool running = false;
};

std::string to_json(const RingState& state);
// INVALID_ARGUMENT naming the key for a file that is not one to_json() wrote.
Result<RingState> ring_state_from_json(std::string_view text);

}  // namespace recorder::ring
