// Retention: which finished recordings to delete so the storage keeps within the operator's
// limits (--retain-max-age, --retain-max-bytes, --retain-max-count). Oldest first (by the time
// they stopped, then by id); only finished recordings are ever candidates, and a running one
// counts toward no limit. This unit only decides; the RecordingManager deletes (file, metadata
// and registry entry) and logs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace recorder::service {

struct RetentionPolicy {
  std::chrono::nanoseconds max_age{0};  // delete what stopped longer ago than this; 0: none
  uint64_t max_bytes = 0;               // keep the finished recordings' files within this; 0: none
  uint64_t max_count = 0;               // keep at most this many finished recordings; 0: no limit

  bool enabled() const { return max_age.count() > 0 || max_bytes > 0 || max_count > 0; }
};

struct FinishedRecording {
  uint64_t id = 0;
  std::chrono::system_clock::time_point stop_time;
  uint64_t file_size = 0;
};

struct Expired {
  uint64_t id = 0;
  std::string reason;  // which limit, e.g. "stopped more than 1h ago (--retain-max-age)"
};

// The recordings of `finished` (in any order) to delete under `policy` at `now`, oldest first.
std::vector<Expired> select_expired(std::vector<FinishedRecording> finished,
                                    const RetentionPolicy& policy,
                                    std::chrono::system_clock::time_point now);

}  // namespace recorder::service
