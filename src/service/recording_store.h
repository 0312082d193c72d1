// RecordingStore: the storage directory as the service sees it: recording files and the
// metadata each finished recording leaves next to its file (recording_metadata.h).
//
// The store reserves a recording's metadata space when it starts, writes its final state when
// it stops, reads it back at start-up, removes a recording's file and metadata (Delete and
// retention), and tells the free space. It knows nothing of running recordings: the
// RecordingManager owns lifecycles and calls the store.
//
// Durability: metadata is written into a temporary file created (O_EXCL, never through a link)
// and filled to its reserved size when the recording starts, so a disk that fills up while it
// runs cannot starve it; at the stop the JSON is written over the reservation, cut to size,
// fsync()ed, renamed to ".<file>.json" and the directory fsync()ed. A crash leaves either no
// metadata or all of it. Every file operation goes through storage::Directory (fd-relative, no
// symlink followed).
//
// Threads: every method may be called from any thread; the store keeps no state beyond the
// directory. A MetadataSlot belongs to one recording and is used by one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "service/recording_info.h"
#include "storage/directory.h"

namespace recorder::service {

// A recording's reserved metadata file, from its start until its metadata is in place.
class MetadataSlot {
 public:
  MetadataSlot() = default;
  bool empty() const { return temp_name_.empty(); }

 private:
  friend class RecordingStore;
  std::string temp_name_;  // ".<file>.json.tmp"
  Fd fd_;                  // open on temp_name_ until it has been renamed
  bool renamed_ = false;   // renamed; only the directory fsync is missing
};

class RecordingStore {
 public:
  // Opens the directory, creating it (with `permissions`) if it is missing, and checks that it
  // is writable.
  static Result<std::unique_ptr<RecordingStore>> open(const std::filesystem::path& path,
                                                      storage::Permissions permissions = {});

  const std::filesystem::path& path() const { return path_; }  // canonical
  const storage::Directory& directory() const { return dir_; }

  // The names of the directory's entries (no "." or "..").
  Result<std::vector<std::string>> names() const;

  // Reserves the metadata space of the recording `info` starting now (info.file_name set).
  // RESOURCE_EXHAUSTED when the disk has no room for it.
  Result<MetadataSlot> reserve_metadata(const RecordingInfo& info) const;

  // Writes the final state of a finished recording durably as its metadata file, into the
  // space `slot` reserved (an empty slot: a new temporary file). On failure the slot keeps what
  // is done so far, for a retry with the same slot.
  Status save(const RecordingInfo& info, MetadataSlot& slot) const;

  // Gives a reservation back (the recording has no metadata to write, or is deleted).
  void discard(MetadataSlot& slot) const;

  // Removes reservations a crash left behind; returns how many. Call before anything reserves.
  size_t remove_stale_reservations() const;

  // The metadata of the recording file `file_name`: NOT_FOUND when there is none,
  // FAILED_PRECONDITION or INVALID_ARGUMENT when it cannot be read.
  Result<std::string> read_metadata(std::string_view file_name) const;

  // The size of the regular file `name` (not following links); NOT_FOUND when absent,
  // FAILED_PRECONDITION when it is not a regular file.
  Result<uint64_t> file_size(std::string_view name) const;

  // Opens the regular file `name` read-only (no link followed, one name only).
  Result<Fd> open_for_reading(std::string_view name) const;

  // Removes the recording file `file_name` and its metadata. A file already gone is no error.
  Status remove(std::string_view file_name) const;

  // Bytes available to the daemon on the directory's filesystem.
  Result<uint64_t> free_bytes() const;

 private:
  RecordingStore(storage::Directory dir, std::filesystem::path path)
      : dir_(std::move(dir)), path_(std::move(path)) {}

  // Creates the temporary file `name`, replacing a leftover (or planted) entry of that name.
  Result<Fd> create_temporary(const std::string& name) const;

  storage::Directory dir_;
  std::filesystem::path path_;
};

}  // namespace recorder::service
