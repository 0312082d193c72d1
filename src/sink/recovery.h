// Crash recovery: repairs the partial files a crashed recorderd left in a storage directory.
//
// A live sink writes "<dir>/.<name>.partial" and renames it to "<dir>/<name>" at close, so any
// ".*.partial" found at start-up belongs to a recording that never closed. Each is cut back to
// its last complete record (pcap or pcapng, see record_scanner.h) and renamed to its final name;
// one whose header is unreadable is renamed to "<name>.corrupt" so it is kept for inspection but
// never listed as a recording. A file is never renamed over an existing one: such a partial
// file stays where it is and is reported with the reason.
//
// Anyone who can write into the directory may plant a name that looks like a partial file. Every
// operation is relative to the directory's fd (storage/directory.h): a symbolic link, a FIFO, a
// directory or a file with more than one link (a hard link to a file elsewhere) under such a name
// is refused on the opened fd, reported, and left alone; nothing outside the directory is opened,
// cut or renamed. Called by the daemon once at start-up,
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
  bool refused = false;                // not a regular file with one link: left as it is
  std::string reason;                  // why corrupt or refused, or empty
  uint64_t packets_kept = 0;
  uint64_t bytes_kept = 0;  // file size after repair
  uint64_t bytes_cut = 0;   // bytes removed after the last complete record
};

// Repairs every ".*.partial" in `dir` (not recursive). Fails when the directory cannot be listed
// or its fsync after the renames fails; a file that cannot be repaired or renamed is reported
// with corrupt/reason set, one that is refused with refused/reason.
Result<std::vector<RecoveredFile>> recover_partial_files(const std::filesystem::path& dir);

}  // namespace recorder::sink
