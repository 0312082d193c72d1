// Recording file names: "<prefix>_<YYYYMMDDTHHMMSSZ>_<id>_<node>.<ext>", e.g.
// "hubble_20261122T010203Z_42_node-1.pcap". The service lists and serves files by parsing
// these names, so building and parsing live together here. The node name is sanitized to
// [A-Za-z0-9.-] (anything else becomes '-'): it has no '_', and time and id are digits, so the
// name is read from the right even when the prefix has '_'.
// Partial files (written while recording) are "." + name + ".partial".
//
// The prefix rule lives here, once: request validation refuses a prefix that breaks it, and the
// parser refuses a name whose prefix breaks it (so recorderctl fetch saves only such names).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sink/sink.h"

namespace recorder::sink {

// The prefix rule: ^[a-z][a-z0-9_-]*$, at most kMaxFilePrefixBytes bytes.
constexpr size_t kMaxFilePrefixBytes = 40;
constexpr std::string_view kFilePrefixPattern = "^[a-z][a-z0-9_-]*$";

// Why `prefix` breaks the prefix rule ("must start with a lowercase letter", ...; it quotes at
// most an escaped excerpt of it), or nullopt if it keeps it.
std::optional<std::string> file_prefix_problem(std::string_view prefix);

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
