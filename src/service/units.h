// Parsing of human-written durations and sizes, for recorderctl's and recorderd's flags:
// durations like Go's time.ParseDuration ("30s", "5m", "1h30m", "250ms", "1.5h"; "0" alone is
// allowed) and sizes with SI or IEC units ("512", "10KB", "10MB", "1GiB", "1.5G"; K/M/G/T are SI,
// KiB/MiB/GiB/TiB powers of two, case-insensitive, optional "B"). Errors say what is wrong.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace recorder::service {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text);
Result<uint64_t> parse_size(std::string_view text);
// A point in time as ns since the Unix epoch: RFC 3339 ("2026-11-27T16:00:00.5Z",
// "2026-11-27T17:00:00+01:00") or unix seconds with an optional fraction ("1764259200.25").
Result<uint64_t> parse_time(std::string_view text);

// "1.5 GiB", "300 B": for human output.
std::string format_size(uint64_t bytes);
// "1h2m3.5s", "250ms", "0s".
std::string format_duration(std::chrono::nanoseconds duration);

}  // namespace recorder::service
