#include "service/recording_metadata.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "dispatch/filter.h"

namespace recorder::service {
using json = nlohmann::json;

namespace {

int64_t to_ns(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
std::chrono::system_clock::time_point from_ns(int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

}  // namespace

std::string metadata_file_name(std::string_view file_name) {
  // fmt::format, not "." + std::string(...) + ...: GCC 12 at -O3 flags that concatenation with a
  // false -Wrestrict (GCC bug 105329).
  return fmt::format(".{}.json", file_name);
}

std::string to_metadata_json(const RecordingInfo& info) {
  json filters = json::array();
  for (const auto& f : info.filters) filters.push_back(to_string(f));
  const json j{
      {"id", info.id},
      {"stop_reason", static_cast<int>(info.stop_reason)},
      {"stop_reason_text", std::string(to_string(info.stop_reason))},
      {"stop_message", info.stop_message},
      {"packets_captured", info.stats.packets_captured},
      {"bytes_captured", info.stats.bytes_captured},
      {"packets_lost_kernel", info.stats.packets_lost_kernel},
      {"bytes_lost_kernel", info.stats.bytes_lost_kernel},
      {"packets_lost_queue", info.stats.packets_lost_queue},
      {"bytes_lost_queue", info.stats.bytes_lost_queue},
      {"packets_lost_write", info.stats.packets_lost_write},
      {"bytes_lost_write", info.stats.bytes_lost_write},
      {"file_name", info.file_name},
      {"filters", filters},
      {"snap_length", info.snap_length},
      {"stop_packets", info.stop.packets},
      {"stop_bytes", info.stop.bytes},
      {"stop_duration_ns", info.stop.duration.count()},
      {"format", info.format == sink::FileFormat::kPcapng ? "pcapng" : "pcap"},
      {"file_prefix", info.file_prefix},
      {"node_name", info.node_name},
      {"start_time_ns", to_ns(info.start_time)},
      {"stop_time_ns", to_ns(info.stop_time)},
  };
  return j.dump(2) + "\n";
}

Status from_metadata_json(std::string_view text, RecordingInfo& info) {
  try {
    const json j = json::parse(text);
    info.stop_reason = static_cast<StopReason>(j.at("stop_reason").get<int>());
    info.stop_message = j.value("stop_message", "");
    info.stats.packets_captured = j.at("packets_captured").get<uint64_t>();
    info.stats.bytes_captured = j.at("bytes_captured").get<uint64_t>();
    info.stats.packets_lost_kernel = j.value("packets_lost_kernel", uint64_t{0});
    info.stats.bytes_lost_kernel = j.value("bytes_lost_kernel", uint64_t{0});
    info.stats.packets_lost_queue = j.value("packets_lost_queue", uint64_t{0});
    info.stats.bytes_lost_queue = j.value("bytes_lost_queue", uint64_t{0});
    info.stats.packets_lost_write = j.value("packets_lost_write", uint64_t{0});
    info.stats.bytes_lost_write = j.value("bytes_lost_write", uint64_t{0});
    info.filters.clear();
    for (const auto& f : j.at("filters")) {
      auto filter = parse_filter(f.get<std::string>());
      if (filter) info.filters.push_back(*filter);
    }
    info.snap_length = j.value("snap_length", 0u);
    info.stop.packets = j.value("stop_packets", uint64_t{0});
    info.stop.bytes = j.value("stop_bytes", uint64_t{0});
    info.stop.duration = std::chrono::nanoseconds(j.value("stop_duration_ns", int64_t{0}));
    info.format =
        j.value("format", "pcap") == "pcapng" ? sink::FileFormat::kPcapng : sink::FileFormat::kPcap;
    info.start_time = from_ns(j.value("start_time_ns", int64_t{0}));
    info.stop_time = from_ns(j.value("stop_time_ns", int64_t{0}));
    return ok_status();
  } catch (const json::exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("recording metadata: ") + e.what());
  }
}

}  // namespace recorder::service
