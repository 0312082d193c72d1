// Crash recovery: repairs the partial files a crashed recorderd left in a storage directory.
//
// A live sink writes "<dir>/.<name>.partial" and renames it to "<dir>/<name>" at close, so any
// ".*.partial" found at start-up belongs to a recording that never closed. Each is cut back to
// its last complete record (pcap or pcapng, see record_scanner.h) and renamed to its final name;
// one whose header is unreadable is renamed to "<name>.corrupt" so it is kept for inspection but
// never listed as a recording. A file is never renamed over an existing one: such a partial
// file stays where it is and is reported with the reason. Called by the daemon once at start-up,
// before any sink opens in the directory (a partial file of a live sink must not be touched).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"

namespace recorder::sink {

struct RecoveredFile {
  std::filesystem::path partial_path;  // what was found
  std::filesystem::path final_path;    // where it is now (".corrupt" when unreadable)
  bool corrupt = false;                // header unreadable: renamed to "<final>.corrupt"
  std::string reason;                  // why corrupt, or empty
  uint64_t packets_kept = 0;
  uint64_t bytes_kept = 0;  // file size after repair
  uint64_t bytes_cut = 0;   // bytes removed after the last complete record
};

// Repairs every ".*.partial" in `dir` (not recursive). Fails only when the directory cannot be
// listed; a file that cannot be repaired or renamed is reported with corrupt/reason set.
Result<std::vector<RecoveredFile>> recover_partial_files(const std::filesystem::path& dir);

}  // namespace recorder::sink
