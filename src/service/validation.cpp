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

Result<StartSpec> validate_start(const pb::StartRecording& start, const ServiceLimits& limits) {
  StartSpec spec;

  spec.file_prefix = start.filesink().file_prefix();
  if (spec.file_prefix.empty()) spec.file_prefix = std::string(kDefaultFilePrefix);
  if (auto s = validate_file_prefix(spec.file_prefix); !s) return std::move(s).error();

  if (start.include_size() == 0) {
    return invalid("include: at least one include filter is required");
  }
  if (static_cast<size_t>(start.include_size()) > limits.max_filters) {
    return Error(ErrorCode::kResourceExhausted,
                 fmt::format("include: {} filters, more than the limit of {} per recording",
                             start.include_size(), limits.max_filters));
  }
  for (int i = 0; i < start.include_size(); ++i) {
    const pb::Filter& f = start.include(i);
    // Each field is checked on its own first, so the error names the proto field
    // ("include[1].destination_port"); make_filter() then checks the combination (families).
    if (f.source_port() > 65535) {
      return invalid(fmt::format("include[{}].source_port: {} is above 65535", i, f.source_port()));
    }
    if (f.destination_port() > 65535) {
      return invalid(
          fmt::format("include[{}].destination_port: {} is above 65535", i, f.destination_port()));
    }
    for (const auto& [name, text] : {std::pair{"source_cidr", &f.source_cidr()},
                                     std::pair{"destination_cidr", &f.destination_cidr()}}) {
      std::string note;
      auto c = parse_cidr(*text, &note);
      if (!c) return c.error().wrap(fmt::format("include[{}].{}", i, name));
      if (!note.empty()) spec.notes.push_back(fmt::format("include[{}].{}: {}", i, name, note));
    }
    if (!pb::Protocol_IsValid(f.protocol())) {
      return invalid(
          fmt::format("include[{}].protocol: unknown protocol {} (ANY=0, ICMP=1, TCP=6, "
                      "UDP=17, ICMPV6=58, SCTP=132)",
                      i, static_cast<int>(f.protocol())));
    }
    auto filter = make_filter(f.source_cidr(), f.source_port(), f.destination_cidr(),
                              f.destination_port(), static_cast<uint32_t>(f.protocol()));
    if (!filter) return filter.error().wrap(fmt::format("include[{}]", i));
    spec.recording.include.push_back(*filter);
  }

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
    const auto& d = stop.time_elapsed();
    if (d.seconds() < 0 || d.nanos() < 0) {
      return invalid("stop_condition.time_elapsed: must not be negative");
    }
    if (d.nanos() >= 1000000000) {
      return invalid("stop_condition.time_elapsed.nanos: must be below 1e9");
    }
    // Above ~292 years the nanosecond count would overflow.
    if (d.seconds() > 9'000'000'000LL) {
      return invalid("stop_condition.time_elapsed: too long");
    }
    spec.recording.stop.duration =
        std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos());
  }

  switch (start.format()) {
    case pb::FILE_FORMAT_PCAP:
      spec.format = sink::FileFormat::kPcap;
      break;
    case pb::FILE_FORMAT_PCAPNG:
      spec.format = sink::FileFormat::kPcapng;
      break;
    default:
      return invalid(
          fmt::format("format: unknown file format {}", static_cast<int>(start.format())));
  }
  return spec;
}

void log_notes(const StartSpec& spec, uint64_t id, std::string_view peer) {
  for (const auto& note : spec.notes) spdlog::info("recording {} (from {}): {}", id, peer, note);
}

}  // namespace recorder::service
