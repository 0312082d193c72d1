#include "ring/ring_spec.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace recorder::ring {
using json = nlohmann::json;

std::string to_json(const RingState& state) {
  const RingSpec& s = state.spec;
  json j;
  j["name"] = s.name;
  j["include"] = json::array();
  for (const auto& f : s.include) j["include"].push_back(to_string(f));
  j["snap_length"] = s.snap_length;
  j["format"] = std::string(sink::file_extension(s.format));
  j["max_bytes"] = s.max_bytes;
  j["max_age_ns"] = s.max_age.count();
  j["chunk_bytes"] = s.chunk_bytes;
  j["chunk_duration_ns"] = s.chunk_duration.count();
  j["running"] = state.running;
  return j.dump(2) + "\n";
}

Result<RingState> ring_state_from_json(std::string_view text) {
  auto invalid = [](std::string_view what) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("ring state: {}", what));
  };
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid("not a JSON object");
  RingState state;
  RingSpec& s = state.spec;
  try {
    s.name = j.at("name").get<std::string>();
    for (const auto& f : j.at("include")) {
      auto filter = parse_filter(f.get<std::string>());
      if (!filter) return filter.error().wrap("ring state: include");
      s.include.push_back(*filter);
    }
    s.snap_length = j.at("snap_length").get<uint32_t>();
    const auto format = j.at("format").get<std::string>();
    if (format == "pcap") {
      s.format = sink::FileFormat::kPcap;
    } else if (format == "pcapng") {
      s.format = sink::FileFormat::kPcapng;
    } else {
      return invalid("format: " + format);
    }
    s.max_bytes = j.at("max_bytes").get<uint64_t>();
    s.max_age = std::chrono::nanoseconds(j.at("max_age_ns").get<int64_t>());
    s.chunk_bytes = j.at("chunk_bytes").get<uint64_t>();
    s.chunk_duration = std::chrono::nanoseconds(j.at("chunk_duration_ns").get<int64_t>());
    state.running = j.at("running").get<bool>();
  } catch (const json::exception& e) {
    return invalid(e.what());
  }
  if (s.include.empty() || s.chunk_bytes == 0) return invalid("no include filter or chunk size");
  return state;
}

}  // namespace recorder::ring
