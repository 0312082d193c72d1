#include "ring/retention.h"

namespace recorder::ring {

std::vector<ExpiredChunk> select_expired_chunks(const std::vector<ClosedChunk>& closed,
                                                uint64_t reserved_bytes, uint64_t free_bytes,
                                                const RetentionBudget& budget, uint64_t now_ns) {
  uint64_t total = reserved_bytes;
  for (const auto& c : closed) total += c.file_bytes;
  const auto max_age = static_cast<uint64_t>(budget.max_age.count());
  std::vector<ExpiredChunk> out;
  for (const auto& c : closed) {  // oldest first: stop at the first that may stay
    const char* reason = nullptr;
    if (budget.max_bytes != 0 && total > budget.max_bytes) {
      reason = "over max_bytes";
    } else if (max_age != 0 && now_ns > max_age && c.last_ns < now_ns - max_age) {
      reason = "older than max_age";
    } else if (budget.free_floor != 0 && free_bytes < budget.free_floor) {
      reason = "free disk below the floor";
    }
    if (reason == nullptr) break;
    out.push_back({c.seq, reason});
    total -= c.file_bytes;
    free_bytes += c.file_bytes;
  }
  return out;
}

}  // namespace recorder::ring
