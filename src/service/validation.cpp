#include "service/validation.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "common/text.h"
#include "dispatch/filter.h"
#include "sink/file_naming.h"

namespace recorder::service {
namespace {

Error invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

Status validate_file_prefix(std::string_view prefix) {
  constexpr std::string_view kField = "filesink.file_prefix";
  // Bounded before anything else reads it; errors quote a short excerpt only.
  if (auto s = check_text(prefix, kField, sink::kMaxFilePrefixBytes); !s) return s;
  if (auto problem = sink::file_prefix_problem(prefix)) {
    return invalid(fmt::format("{} {}: {}", kField, excerpt(prefix), *problem));
  }
  return ok_status();
}

Result<std::vector<Filter>> validate_filters(
    const google::protobuf::RepeatedPtrField<pb::Filter>& include, std::string_view field,
    size_t max_filters, std::vector<std::string>& notes) {
  std::vector<Filter> filters;
  if (include.size() == 0) {
    return invalid(fmt::format("{}: at least one include filter is required", field));
  }
  if (static_cast<size_t>(include.size()) > max_filters) {
    return Error(ErrorCode::kResourceExhausted,
                 fmt::format("{}: {} filters, more than the limit of {}", field, include.size(),
                             max_filters));
  }
  for (int i = 0; i < include.size(); ++i) {
    const pb::Filter& f = include.Get(i);
    // Each field is checked on its own first, so the error names the proto field
    // ("include[1].destination_port"); make_filter() then checks the combination (families).
    if (f.source_port() > 65535) {
      return invalid(
          fmt::format("{}[{}].source_port: {} is above 65535", field, i, f.source_port()));
    }
    if (f.destination_port() > 65535) {
      return invalid(fmt::format("{}[{}].destination_port: {} is above 65535", field, i,
                                 f.destination_port()));
    }
    for (const auto& [name, text] : {std::pair{"source_cidr", &f.source_cidr()},
                                     std::pair{"destination_cidr", &f.destination_cidr()}}) {
      std::string note;
      auto c = parse_cidr(*text, &note);
      if (!c) return c.error().wrap(fmt::format("{}[{}].{}", field, i, name));
      if (!note.empty()) notes.push_back(fmt::format("{}[{}].{}: {}", field, i, name, note));
    }
    if (!pb::Protocol_IsValid(f.protocol())) {
      return invalid(
          fmt::format("{}[{}].protocol: unknown protocol {} (ANY=0, ICMP=1, TCP=6, "
                      "UDP=17, ICMPV6=58, SCTP=132)",
                      field, i, static_cast<int>(f.protocol())));
    }
    auto filter = make_filter(f.source_cidr(), f.source_port(), f.destination_cidr(),
                              f.destination_port(), static_cast<uint32_t>(f.protocol()));
    if (!filter) return filter.error().wrap(fmt::format("{}[{}]", field, i));
    filters.push_back(*filter);
  }
  return filters;
}

Result<std::chrono::nanoseconds> validate_duration(const google::protobuf::Duration& d,
                                                   std::string_view field) {
  if (d.seconds() < 0 || d.nanos() < 0) {
    return invalid(fmt::format("{}: must not be negative", field));
  }
  if (d.nanos() >= 1000000000) return invalid(fmt::format("{}.nanos: must be below 1e9", field));
  // Above ~292 years the nanosecond count would overflow.
  if (d.seconds() > 9'000'000'000LL) return invalid(fmt::format("{}: too long", field));
  return std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos());
}

Result<sink::FileFormat> validate_format(pb::FileFormat format, std::string_view field) {
  switch (format) {
    case pb::FILE_FORMAT_PCAP:
      return sink::FileFormat::kPcap;
    case pb::FILE_FORMAT_PCAPNG:
      return sink::FileFormat::kPcapng;
    default:
      return invalid(fmt::format("{}: unknown file format {}", field, static_cast<int>(format)));
  }
}

Result<StartSpec> validate_start(const pb::StartRecording& start, const ServiceLimits& limits) {
  StartSpec spec;

  spec.file_prefix = start.filesink().file_prefix();
  if (spec.file_prefix.empty()) spec.file_prefix = std::string(kDefaultFilePrefix);
  if (auto s = validate_file_prefix(spec.file_prefix); !s) return std::move(s).error();

  auto include = validate_filters(start.include(), "include", limits.max_filters, spec.notes);
  if (!include) return std::move(include).error();
  spec.recording.include = std::move(*include);

  uint32_t snap = start.max_capture_length();
  if (snap > limits.max_snap_length) {
    return invalid(fmt::format("max_capture_length: {} is above the daemon's limit of {}", snap,
                               limits.max_snap_length));
  }
  spec.recording.snap_length = snap == 0 ? limits.max_snap_length : snap;
  spec.requested_snap_length = snap;

  const pb::StopCondition& stop = start.stop_condition();
  spec.recording.stop.packets = stop.packets_captured_count();
  spec.recording.stop.bytes = stop.bytes_captured_count();
  if (stop.has_time_elapsed()) {
    auto duration = validate_duration(stop.time_elapsed(), "stop_condition.time_elapsed");
    if (!duration) return std::move(duration).error();
    spec.recording.stop.duration = *duration;
  }

  auto format = validate_format(start.format(), "format");
  if (!format) return std::move(format).error();
  spec.format = *format;
  return spec;
}

void log_notes(const StartSpec& spec, uint64_t id, std::string_view peer) {
  for (const auto& note : spec.notes) spdlog::info("recording {} (from {}): {}", id, peer, note);
}

}  // namespace recorder::service
