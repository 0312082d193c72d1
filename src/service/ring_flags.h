// RingFlags: a ring as a person writes it, on recorderctl's command line (`ring start NAME
// FILTER... --max-size 10GiB --max-age 24h ...`) or in recorderd's config file ("rings":
// [{"name": ..., "filters": [...], "max-size": ...}]), turned into the RingConfig message the
// Rings service validates. One conversion for both, so the two spell a ring alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "dispatch/filter.h"
#include "recorder.pb.h"

namespace recorder::service {

struct RingFlags {
  std::string name;
  std::vector<std::string> filters;  // Hubble's text form, "any 0 any 0 ANY" for everything
  std::string max_size = "0";        // e.g. 10GiB (0: no byte budget)
  std::string max_age = "0";         // e.g. 24h (0: no age limit)
  std::string chunk_size = "0";      // 0: the default
  std::string chunk_duration;        // empty: the default; "0": by size only
  uint32_t max_capture_len = 0;
  std::string format = "pcap";
};

// Errors name the flag ("--max-size: ...", "filter \"...\": ...").
Result<pb::RingConfig> ring_config(const RingFlags& flags);

// The JSON object of a config file's ring: keys as the flags without "--" ("name", "filters",
// "max-size", "max-age", "chunk-size", "chunk-duration", "max-capture-len", "format"; '_' for
// '-' allowed). INVALID_ARGUMENT naming an unknown key or a value of the wrong type.
Result<RingFlags> ring_flags_from_json(std::string_view text);

// A filter as the proto message (the one conversion: the services' replies use it too, and
// recorderctl, which does not link the services).
void to_proto_filter(const Filter& filter, pb::Filter* out);

}  // namespace recorder::service
