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

json stats_json(const RecordingStats& s) {
  return json{
      {"packets_captured", s.packets_captured},       {"bytes_captured", s.bytes_captured},
      {"packets_lost_kernel", s.packets_lost_kernel}, {"bytes_lost_kernel", s.bytes_lost_kernel},
      {"packets_lost_queue", s.packets_lost_queue},   {"bytes_lost_queue", s.bytes_lost_queue},
      {"packets_lost_write", s.packets_lost_write},   {"bytes_lost_write", s.bytes_lost_write}};
}

RecordingStats stats_from_json(const json& j) {
  RecordingStats s;
  s.packets_captured = j.at("packets_captured").get<uint64_t>();
  s.bytes_captured = j.at("bytes_captured").get<uint64_t>();
  s.packets_lost_kernel = j.value("packets_lost_kernel", uint64_t{0});
  s.bytes_lost_kernel = j.value("bytes_lost_kernel", uint64_t{0});
  s.packets_lost_queue = j.value("packets_lost_queue", uint64_t{0});
  s.bytes_lost_queue = j.value("bytes_lost_queue", uint64_t{0});
  s.packets_lost_write = j.value("packets_lost_write", uint64_t{0});
  s.bytes_lost_write = j.value("bytes_lost_write", uint64_t{0});
  return s;
}

RecordingState state_from_text(const std::string& text) {
  if (text == to_string(RecordingState::kRunning)) return RecordingState::kRunning;
  if (text == to_string(RecordingState::kStopping)) return RecordingState::kStopping;
  if (text == to_string(RecordingState::kStopped)) return RecordingState::kStopped;
  throw std::invalid_argument("state: \"" + text + "\" is not running, stopping or stopped");
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
  json j{
      {"id", info.id},
      {"state", std::string(to_string(info.state))},
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
  if (!info.nodes.empty()) {
    json nodes = json::array();
    for (const auto& n : info.nodes) {
      nodes.push_back(json{{"node_name", n.node_name},
                           {"address", n.address},
                           {"error", n.error},
                           {"recording_id", n.recording_id},
                           {"state", std::string(to_string(n.state))},
                           {"stop_reason", static_cast<int>(n.stop_reason)},
                           {"stats", stats_json(n.stats)},
                           {"file_path", n.file_path},
                           {"file_size", n.file_size},
                           {"packets_merged", n.packets_merged}});
    }
    j["nodes"] = std::move(nodes);
  }
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
    // Written since the relay keeps its recordings' metadata (it writes it while they run too).
    if (j.contains("state")) info.state = state_from_text(j.at("state").get<std::string>());
    info.nodes.clear();
    for (const auto& n : j.value("nodes", json::array())) {
      NodeRecording node;
      node.node_name = n.at("node_name").get<std::string>();
      node.address = n.at("address").get<std::string>();
      node.error = n.value("error", "");
      node.recording_id = n.at("recording_id").get<uint64_t>();
      node.state = state_from_text(n.at("state").get<std::string>());
      node.stop_reason = static_cast<StopReason>(n.value("stop_reason", 0));
      node.stats = stats_from_json(n.at("stats"));
      node.file_path = n.value("file_path", "");
      node.file_size = n.value("file_size", uint64_t{0});
      node.packets_merged = n.value("packets_merged", uint64_t{0});
      info.nodes.push_back(std::move(node));
    }
    return ok_status();
  } catch (const json::exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("recording metadata: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("recording metadata: ") + e.what());
  }
}

}  // namespace recorder::service
