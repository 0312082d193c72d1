#include "service/retention.h"

#include <fmt/format.h>

#include <algorithm>

#include "service/units.h"

namespace recorder::service {

std::vector<Expired> select_expired(std::vector<FinishedRecording> finished,
                                    const RetentionPolicy& policy,
                                    std::chrono::system_clock::time_point now) {
  std::sort(finished.begin(), finished.end(), [](const auto& a, const auto& b) {
    return a.stop_time != b.stop_time ? a.stop_time < b.stop_time : a.id < b.id;
  });
  uint64_t bytes = 0;
  for (const auto& f : finished) bytes += f.file_size;
  uint64_t count = finished.size();

  std::vector<Expired> out;
  for (const auto& f : finished) {
    std::string reason;
    if (policy.max_age.count() > 0 && now - f.stop_time > policy.max_age) {
      reason = fmt::format("stopped more than {} ago (--retain-max-age)",
                           format_duration(policy.max_age));
    } else if (policy.max_count > 0 && count > policy.max_count) {
      reason = fmt::format("{} finished recordings, more than {} (--retain-max-count)", count,
                           policy.max_count);
    } else if (policy.max_bytes > 0 && bytes > policy.max_bytes) {
      reason = fmt::format("finished recordings hold {} bytes, more than {} (--retain-max-bytes)",
                           bytes, policy.max_bytes);
    } else {
      // The oldest remaining one is within every limit, and so is everything younger.
      break;
    }
    out.push_back({f.id, std::move(reason)});
    bytes -= f.file_size;
    --count;
  }
  return out;
}

}  // namespace recorder::service
