#include "service/ring_flags.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "dispatch/filter.h"
#include "service/units.h"

namespace recorder::service {

void to_proto_filter(const Filter& filter, pb::Filter* out) {
  if (filter.source.family != AddressFamily::kAny) out->set_source_cidr(to_string(filter.source));
  out->set_source_port(filter.source_port);
  if (filter.destination.family != AddressFamily::kAny) {
    out->set_destination_cidr(to_string(filter.destination));
  }
  out->set_destination_port(filter.destination_port);
  out->set_protocol(static_cast<pb::Protocol>(filter.protocol));
}

Result<pb::RingConfig> ring_config(const RingFlags& flags) {
  pb::RingConfig config;
  config.set_name(flags.name);
  for (const auto& text : flags.filters) {
    auto filter = parse_filter(text);
    if (!filter) return filter.error().wrap(fmt::format("filter \"{}\"", text));
    to_proto_filter(*filter, config.add_include());
  }
  auto size = [](std::string_view flag, const std::string& text) -> Result<uint64_t> {
    auto v = parse_size(text);
    if (!v) return v.error().wrap(fmt::format("--{}", flag));
    return v;
  };
  auto duration = [](std::string_view flag, const std::string& text,
                     google::protobuf::Duration* out) -> Status {
    auto v = parse_duration(text);
    if (!v) return v.error().wrap(fmt::format("--{}", flag));
    out->set_seconds(v->count() / 1000000000);
    out->set_nanos(static_cast<int32_t>(v->count() % 1000000000));
    return ok_status();
  };
  auto max_bytes = size("max-size", flags.max_size);
  if (!max_bytes) return std::move(max_bytes).error();
  config.set_max_bytes(*max_bytes);
  if (flags.max_age != "0") {
    if (auto s = duration("max-age", flags.max_age, config.mutable_max_age()); !s) {
      return std::move(s).error();
    }
  }
  auto chunk = size("chunk-size", flags.chunk_size);
  if (!chunk) return std::move(chunk).error();
  config.set_chunk_bytes(*chunk);
  if (!flags.chunk_duration.empty()) {
    if (auto s = duration("chunk-duration", flags.chunk_duration, config.mutable_chunk_duration());
        !s) {
      return std::move(s).error();
    }
  }
  config.set_max_capture_length(flags.max_capture_len);
  if (flags.format == "pcap") {
    config.set_format(pb::FILE_FORMAT_PCAP);
  } else if (flags.format == "pcapng") {
    config.set_format(pb::FILE_FORMAT_PCAPNG);
  } else {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("--format: \"{}\" is neither pcap nor pcapng", flags.format));
  }
  return config;
}

Result<RingFlags> ring_flags_from_json(std::string_view json_text) {
  using json = nlohmann::json;
  auto invalid = [](std::string message) {
    return Error(ErrorCode::kInvalidArgument, std::move(message));
  };
  const json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid("a ring must be a JSON object");
  RingFlags flags;
  for (const auto& [raw_key, value] : j.items()) {
    std::string key = raw_key;
    for (char& c : key) c = c == '_' ? '-' : c;
    auto text = [&](std::string& out) -> Status {
      if (value.is_string()) {
        out = value.get<std::string>();
      } else if (value.is_number_unsigned()) {
        out = std::to_string(value.get<uint64_t>());
      } else {
        return invalid(fmt::format("ring key \"{}\": expected a string", raw_key));
      }
      return ok_status();
    };
    Status s = ok_status();
    if (key == "name") {
      s = text(flags.name);
    } else if (key == "filters" || key == "filter") {
      if (value.is_string()) {
        flags.filters.push_back(value.get<std::string>());
      } else if (value.is_array()) {
        for (const auto& f : value) {
          if (!f.is_string())
            return invalid(fmt::format("ring key \"{}\": expected strings", raw_key));
          flags.filters.push_back(f.get<std::string>());
        }
      } else {
        return invalid(fmt::format("ring key \"{}\": expected an array of filters", raw_key));
      }
    } else if (key == "max-size") {
      s = text(flags.max_size);
    } else if (key == "max-age") {
      s = text(flags.max_age);
    } else if (key == "chunk-size") {
      s = text(flags.chunk_size);
    } else if (key == "chunk-duration") {
      s = text(flags.chunk_duration);
    } else if (key == "format") {
      s = text(flags.format);
    } else if (key == "max-capture-len") {
      if (!value.is_number_unsigned() || value.get<uint64_t>() > UINT32_MAX) {
        return invalid(fmt::format("ring key \"{}\": expected a number of bytes", raw_key));
      }
      flags.max_capture_len = value.get<uint32_t>();
    } else {
      return invalid(fmt::format("ring: unknown key \"{}\"", raw_key));
    }
    if (!s) return std::move(s).error();
  }
  return flags;
}

}  // namespace recorder::service
