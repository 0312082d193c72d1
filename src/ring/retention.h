// Ring retention: which closed chunks a ring deletes, oldest first, so that it stays within its
// budget. Pure: the ring calls it with what it holds and deletes what it returns.
//
//  - max_bytes: the closed chunks plus `reserved_bytes` (what the ring keeps room for: its chunks
//    being closed and written, each counted as a whole chunk) must fit; the oldest closed ones go
//    until they do (so a next chunk can be written with the disk at most the budget plus it).
//  - max_age: a closed chunk whose newest packet is older than now - max_age goes.
//  - free disk: while the filesystem has less than `free_floor` bytes free, the oldest closed
//    chunks go, each counted as freeing its size.
// The chunk being written is never deleted (it is not among `closed`).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace recorder::ring {

struct ClosedChunk {
  uint64_t seq = 0;
  uint64_t file_bytes = 0;  // the chunk and its index
  uint64_t last_ns = 0;     // its newest packet (wall clock ns)
};

struct RetentionBudget {
  uint64_t max_bytes = 0;               // 0: no byte budget
  std::chrono::nanoseconds max_age{0};  // 0: no age limit
  uint64_t free_floor = 0;              // 0: no free-space floor
};

struct ExpiredChunk {
  uint64_t seq = 0;
  std::string reason;  // "over max_bytes", "older than max_age", "free disk below the floor"
};

// `closed` oldest first; `reserved_bytes`: see max_bytes above; `free_bytes`: free space on the
// ring's filesystem now.
std::vector<ExpiredChunk> select_expired_chunks(const std::vector<ClosedChunk>& closed,
                                                uint64_t reserved_bytes, uint64_t free_bytes,
                                                const RetentionBudget& budget, uint64_t now_ns);

}  // namespace recorder::ring
