// Validation of requests before anything is started: turns a Hubble StartRecording message into
// the dispatch-side RecordingSpec plus the file settings, or an INVALID_ARGUMENT /
// RESOURCE_EXHAUSTED Error whose message names the offending field.
//
// Pure functions, no state: the services call them, unit tests call them directly.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "dispatch/recording.h"
#include "recorder.pb.h"
#include "service/limits.h"
#include "sink/sink.h"

namespace recorder::service {

// Hubble's default when the client sends no prefix.
inline constexpr std::string_view kDefaultFilePrefix = "hubble";

// A start request that passed validation.
struct StartSpec {
  RecordingSpec recording;             // filters, effective snap length (never 0), stop conditions
  uint32_t requested_snap_length = 0;  // max_capture_length as sent (0: the whole packet)
  std::string file_prefix;
  sink::FileFormat format = sink::FileFormat::kPcap;
  // What was accepted leniently and how it was read (a CIDR with host bits set, masked as
  // Hubble did), for the service to log.
  std::vector<std::string> notes;
};

// The prefix rule of sink/file_naming.h (^[a-z][a-z0-9_-]*$, at most 40 bytes); INVALID_ARGUMENT
// naming filesink.file_prefix otherwise (the length, NUL bytes and UTF-8 are checked first, and
// errors quote at most a short excerpt of the prefix).
Status validate_file_prefix(std::string_view prefix);

// The include filters of a request, each checked field by field ("<field>[i].destination_port:
// ..."): at least one, at most `max_filters` (RESOURCE_EXHAUSTED). Notes on what was accepted
// leniently (host bits masked) are appended to `notes`.
Result<std::vector<Filter>> validate_filters(
    const google::protobuf::RepeatedPtrField<pb::Filter>& include, std::string_view field,
    size_t max_filters, std::vector<std::string>& notes);

// A Duration that is not negative, has nanos below 1e9 and fits in nanoseconds.
Result<std::chrono::nanoseconds> validate_duration(const google::protobuf::Duration& duration,
                                                   std::string_view field);

// A known FileFormat value.
Result<sink::FileFormat> validate_format(pb::FileFormat format, std::string_view field);

// Validates every field of `start` against `limits`:
//  - filesink.file_prefix (empty: "hubble")
//  - include: at least one, at most limits.max_filters (RESOURCE_EXHAUSTED), each a valid
//    filter (CIDRs, family match, ports <= 65535, known protocol): "include[i].<field>: ...";
//    every CIDR is bounded (kMaxCidrText), free of NUL bytes and valid UTF-8 before it is parsed,
//    and one with host bits set is masked (a note in StartSpec::notes says so)
//  - max_capture_length: 0 = limits.max_snap_length, above it INVALID_ARGUMENT
//  - stop_condition.time_elapsed: not negative, nanos within range
//  - format: a known value
Result<StartSpec> validate_start(const pb::StartRecording& start, const ServiceLimits& limits);

// Logs spec.notes at info level: recording `id`, started by the client `peer`, was read so.
void log_notes(const StartSpec& spec, uint64_t id, std::string_view peer);

}  // namespace recorder::service
