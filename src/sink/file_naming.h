// Recording file names: "<prefix>_<YYYYMMDDTHHMMSSZ>_<id>_<node>.<ext>", e.g.
// "hubble_20261122T010203Z_42_node-1.pcap". The service lists and serves files by parsing
// these names, so building and parsing live together here. The node name is sanitized to
// [A-Za-z0-9.-] (anything else becomes '-') so the name has exactly four '_'-separated fields
// as long as the prefix has no '_' (Hubble's prefix rule ^[a-z][a-z0-9]{0,19}$ guarantees it).
// Partial files (written while recording) are "." + name + ".partial".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sink/sink.h"

namespace recorder::sink {

std::string recording_file_name(std::string_view prefix,
                                std::chrono::system_clock::time_point start, uint64_t id,
                                std::string_view node, FileFormat format);

struct RecordingFileName {
  std::string prefix;
  std::chrono::system_clock::time_point start;  // whole seconds
  uint64_t id = 0;
  std::string node;
  FileFormat format = FileFormat::kPcap;
};

// Parses a name built by recording_file_name(); nullopt for anything else (including partial
// files and names with a path).
std::optional<RecordingFileName> parse_recording_file_name(std::string_view name);

// The hidden name a recording is written under until it is complete.
std::string partial_file_name(std::string_view final_name);

}  // namespace recorder::sink
