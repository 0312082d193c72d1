// Validation of the Rings service's requests, like validation.h for recordings: a RingConfig
// becomes a ring::RingSpec (defaults filled in), a SnapshotRequest a ring::SnapshotRequest, or
// an INVALID_ARGUMENT / RESOURCE_EXHAUSTED Error whose message names the offending field
// ("ring.include[1].destination_port: ...", "ring.chunk_bytes: ...", "from: ...").
//
// Pure functions: the service and the daemon's config both call them, unit tests too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "recorder.pb.h"
#include "ring/ring_manager.h"
#include "ring/ring_spec.h"
#include "service/limits.h"

namespace recorder::service {

inline constexpr uint64_t kMinChunkBytes = 64u << 10;
inline constexpr std::chrono::milliseconds kMinChunkDuration{100};

// "^[a-z][a-z0-9-]{0,39}$" (the ring's directory name and its snapshots' file prefix).
Status validate_ring_name(std::string_view name, std::string_view field);

// `field` prefixes every field name ("ring" for StartRingRequest.ring). Defaults: chunk_bytes
// 256 MiB (at most a quarter of max_bytes when that is set), chunk_duration 10 minutes (at most
// a quarter of max_age when that is set).
Result<ring::RingSpec> validate_ring(const pb::RingConfig& config, const ServiceLimits& limits,
                                     std::string_view field, std::vector<std::string>& notes);

// `now_ns`: the wall clock, for `last`.
Result<ring::SnapshotRequest> validate_snapshot(const pb::SnapshotRequest& request,
                                                const ServiceLimits& limits, uint64_t now_ns,
                                                std::vector<std::string>& notes);

}  // namespace recorder::service
