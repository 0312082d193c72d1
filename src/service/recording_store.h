// RecordingStore: the storage directory as the service sees it: recording files and the
// metadata each finished recording leaves next to its file (recording_metadata.h).
//
// The store writes a finished recording's metadata, reads it back at start-up, removes a
// recording's file and metadata (Delete and retention), and tells the free space. It knows
// nothing of running recordings: the RecordingManager owns lifecycles and calls the store.
//
// Threads: every method may be called from any thread; the store keeps no state beyond the
// directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "service/recording_info.h"

namespace recorder::service {

class RecordingStore {
 public:
  // Creates the directory if it is missing and checks that it is writable.
  static Result<std::unique_ptr<RecordingStore>> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }  // canonical

  // The names of the directory's entries (no "." or "..").
  Result<std::vector<std::string>> names() const;

  // Writes the final state of a finished recording as its metadata file.
  Status save(const RecordingInfo& info) const;

  // The metadata of the recording file `file_name`: NOT_FOUND when there is none,
  // INVALID_ARGUMENT when it is unreadable.
  Result<std::string> read_metadata(std::string_view file_name) const;

  // The size of the regular file `name` (not following links); NOT_FOUND when absent,
  // FAILED_PRECONDITION when it is not a regular file.
  Result<uint64_t> file_size(std::string_view name) const;

  // Opens the regular file `name` read-only (not following links); the caller closes the fd.
  Result<int> open_for_reading(std::string_view name) const;

  // Removes the recording file `file_name` and its metadata. A file already gone is no error.
  Status remove(std::string_view file_name) const;

  // Bytes available to the daemon on the directory's filesystem.
  Result<uint64_t> free_bytes() const;

 private:
  explicit RecordingStore(std::filesystem::path path) : path_(std::move(path)) {}

  std::filesystem::path path_;
};

}  // namespace recorder::service
