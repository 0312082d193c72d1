#include "service/ring_validation.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/text.h"
#include "service/convert.h"
#include "service/validation.h"

namespace recorder::service {
namespace {

constexpr size_t kMaxRingName = 40;

Error invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

std::string join(std::string_view field, std::string_view name) {
  return field.empty() ? std::string(name) : fmt::format("{}.{}", field, name);
}

Result<uint64_t> timestamp_ns(const google::protobuf::Timestamp& t, std::string_view field) {
  if (t.seconds() < 0 || t.nanos() < 0 || t.nanos() >= 1000000000) {
    return invalid(fmt::format("{}: not a valid time after 1970 (seconds {}, nanos {})", field,
                               t.seconds(), t.nanos()));
  }
  if (t.seconds() > 9'000'000'000LL) return invalid(fmt::format("{}: too far ahead", field));
  return from_proto_timestamp(t);
}

}  // namespace

Status validate_ring_name(std::string_view name, std::string_view field) {
  if (auto s = check_text(name, field, kMaxRingName); !s) return s;
  if (name.empty()) return invalid(fmt::format("{}: must not be empty", field));
  if (name[0] < 'a' || name[0] > 'z') {
    return invalid(fmt::format("{} {}: must start with a lowercase letter (^[a-z][a-z0-9-]*$)",
                               field, excerpt(name)));
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return invalid(fmt::format("{} {}: character {} not allowed (^[a-z][a-z0-9-]*$)", field,
                                 excerpt(name), excerpt(std::string_view(&c, 1))));
    }
  }
  return ok_status();
}

Result<ring::RingSpec> validate_ring(const pb::RingConfig& config, const ServiceLimits& limits,
                                     std::string_view field, std::vector<std::string>& notes) {
  ring::RingSpec spec;
  if (auto s = validate_ring_name(config.name(), join(field, "name")); !s) {
    return std::move(s).error();
  }
  spec.name = config.name();
  auto include =
      validate_filters(config.include(), join(field, "include"), limits.max_filters, notes);
  if (!include) return std::move(include).error();
  spec.include = std::move(*include);
  const uint32_t snap = config.max_capture_length();
  if (snap > limits.max_snap_length) {
    return invalid(fmt::format("{}: {} is above the daemon's limit of {}",
                               join(field, "max_capture_length"), snap, limits.max_snap_length));
  }
  spec.snap_length = snap == 0 ? limits.max_snap_length : snap;
  auto format = validate_format(config.format(), join(field, "format"));
  if (!format) return std::move(format).error();
  spec.format = *format;

  spec.max_bytes = config.max_bytes();
  if (config.has_max_age()) {
    auto age = validate_duration(config.max_age(), join(field, "max_age"));
    if (!age) return std::move(age).error();
    spec.max_age = *age;
  }
  if (spec.max_bytes == 0 && spec.max_age.count() == 0) {
    return invalid(fmt::format("{}, {}: a ring needs a budget: set at least one of them",
                               join(field, "max_bytes"), join(field, "max_age")));
  }
  if (spec.max_bytes != 0 && spec.max_bytes < 4 * kMinChunkBytes) {
    return invalid(fmt::format("{}: {} bytes is below the minimum of {} (four chunks of {})",
                               join(field, "max_bytes"), spec.max_bytes, 4 * kMinChunkBytes,
                               kMinChunkBytes));
  }

  spec.chunk_bytes = config.chunk_bytes();
  if (spec.chunk_bytes == 0) {
    spec.chunk_bytes = ring::kDefaultChunkBytes;
    if (spec.max_bytes != 0) spec.chunk_bytes = std::min(spec.chunk_bytes, spec.max_bytes / 4);
  } else if (spec.chunk_bytes < kMinChunkBytes) {
    return invalid(fmt::format("{}: {} bytes is below the minimum of {}",
                               join(field, "chunk_bytes"), spec.chunk_bytes, kMinChunkBytes));
  } else if (spec.max_bytes != 0 && spec.chunk_bytes > spec.max_bytes / 2) {
    return invalid(fmt::format(
        "{}: {} bytes is more than half of {} ({}): the ring would hold "
        "fewer than two chunks",
        join(field, "chunk_bytes"), spec.chunk_bytes, join(field, "max_bytes"), spec.max_bytes));
  }
  if (config.has_chunk_duration()) {
    auto duration = validate_duration(config.chunk_duration(), join(field, "chunk_duration"));
    if (!duration) return std::move(duration).error();
    if (duration->count() != 0 && *duration < kMinChunkDuration) {
      return invalid(fmt::format("{}: below the minimum of {} ms (0: rotate by size only)",
                                 join(field, "chunk_duration"), kMinChunkDuration.count()));
    }
    spec.chunk_duration = *duration;
  } else {
    spec.chunk_duration = ring::kDefaultChunkDuration;
    if (spec.max_age.count() != 0) {
      spec.chunk_duration = std::max<std::chrono::nanoseconds>(
          std::min(spec.chunk_duration, spec.max_age / 4), kMinChunkDuration);
    }
  }
  return spec;
}

Result<ring::SnapshotRequest> validate_snapshot(const pb::SnapshotRequest& request,
                                                const ServiceLimits& limits, uint64_t now_ns,
                                                std::vector<std::string>& notes) {
  ring::SnapshotRequest out;
  if (auto s = validate_ring_name(request.name(), "name"); !s) return std::move(s).error();
  out.name = request.name();
  if (request.has_last()) {
    if (request.has_from() || request.has_to()) {
      return invalid("last: give either last or from/to, not both");
    }
    auto last = validate_duration(request.last(), "last");
    if (!last) return std::move(last).error();
    if (last->count() == 0) return invalid("last: must be longer than 0");
    const auto span = static_cast<uint64_t>(last->count());
    out.from_ns = span < now_ns ? now_ns - span : 0;
  }
  if (request.has_from()) {
    auto from = timestamp_ns(request.from(), "from");
    if (!from) return std::move(from).error();
    out.from_ns = *from;
  }
  if (request.has_to()) {
    auto to = timestamp_ns(request.to(), "to");
    if (!to) return std::move(to).error();
    out.to_ns = *to;
  }
  if (out.from_ns > out.to_ns) return invalid("from: later than to");
  if (request.include_size() > 0) {
    auto include = validate_filters(request.include(), "include", limits.max_filters, notes);
    if (!include) return std::move(include).error();
    out.filters = std::move(*include);
  }
  return out;
}

}  // namespace recorder::service
