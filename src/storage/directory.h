// storage::Directory: every file operation the daemon does in a storage directory, relative to
// one directory fd, so no name found in or sent to the directory can steer it elsewhere.
//
// Threat model: anyone who can write into the storage directory may plant symbolic links, hard
// links, FIFOs or devices under names the daemon uses. Therefore:
// - names are single path components (no '/', ".", ".." or NUL), checked before any syscall;
// - every open goes through openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//   RESOLVE_NO_MAGICLINKS) on the directory fd plus O_NOFOLLOW (openat(O_NOFOLLOW) where the
//   kernel has no openat2), so a symbolic link is never followed;
// - create_file() creates with O_EXCL (an existing name, link or not, is an error) and sets the
//   mode with fchmod(), so the umask cannot widen or narrow it;
// - open_file() refuses, on the opened fd (no check-then-open window), anything that is not a
//   regular file or that has more than one link (a hard link to a file outside); it opens with
//   O_NONBLOCK so a planted FIFO cannot block the caller;
// - rename() never replaces an existing name (RENAME_NOREPLACE); unlink() removes the name
//   itself, never what a link points to.
// The directory's own path is resolved once, at open, as the operator configured it (it may be
// a symbolic link, e.g. to another disk); everything after that uses the fd.
//
// Every call returns a Result whose Error says what was attempted, on which name in which
// directory, and the errno text. A Directory is immutable after open: its methods may be called
// from any thread. Ownership: the Directory owns its fd; the Fds it returns are the caller's.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace recorder::storage {

// Who may read what the daemon creates. Captures hold passwords and personal data: by default
// only the daemon's user (0600 files, 0750 directories); with a group, that group may read
// (0640 files, group-owned).
struct Permissions {
  mode_t file_mode = 0600;
  mode_t dir_mode = 0750;
  std::optional<gid_t> group;  // group owner of created files and directories

  // 0640 files and 0750 directories owned by `group`.
  static Permissions readable_by_group(gid_t group);
};

// The id of the group called `name`; NOT_FOUND naming it when there is none.
Result<gid_t> group_id(const std::string& name);

class Directory {
 public:
  // Opens the existing directory at `path`. Files created in it get `permissions`.
  static Result<Directory> open(const std::filesystem::path& path, Permissions permissions = {});

  // Opens `path`, creating it (and missing parents, as mkdir -p does) when absent. A directory
  // created here gets permissions.dir_mode and group whatever the umask; an existing one keeps
  // the mode and owner its operator gave it.
  static Result<Directory> open_or_create(const std::filesystem::path& path,
                                          Permissions permissions = {});

  Directory(Directory&&) noexcept = default;
  Directory& operator=(Directory&&) noexcept = default;

  const std::filesystem::path& path() const { return path_; }  // as given at open (for messages)
  int fd() const { return fd_.get(); }
  const Permissions& permissions() const { return permissions_; }

  // Creates the new regular file `name` (O_CREAT | O_EXCL) with permissions().file_mode and
  // group. `flags` is the access mode plus extras (O_RDWR, O_WRONLY | O_APPEND, O_DIRECT...).
  // ALREADY_EXISTS when the name exists in any form (file, link, directory).
  Result<Fd> create_file(std::string_view name, int flags) const;

  // Opens the existing regular file `name` with `flags` (O_RDONLY, O_RDWR, ...; never O_CREAT).
  // FAILED_PRECONDITION when it is a symbolic link, not a regular file, or has more than one
  // link; NOT_FOUND when absent.
  Result<Fd> open_file(std::string_view name, int flags) const;

  // Renames `from` to `to` within the directory; ALREADY_EXISTS when `to` exists.
  Status rename(std::string_view from, std::string_view to) const;

  // Removes the name `name` (a file or a link; never what a link points to).
  Status unlink(std::string_view name) const;

  // fsync()s the directory, so the creations, renames and removals before it are durable.
  Status sync() const;

  // lstat of `name` (a link is described, not followed); NOT_FOUND when absent.
  Result<struct stat> stat(std::string_view name) const;

  // Whether `name` exists in any form (a dangling link counts).
  Result<bool> exists(std::string_view name) const;

  // The names in the directory, "." and ".." excluded, in no particular order.
  Result<std::vector<std::string>> list() const;

  // Bytes available to an unprivileged writer on the directory's filesystem.
  Result<uint64_t> free_bytes() const;

 private:
  Directory(Fd fd, std::filesystem::path path, Permissions permissions)
      : fd_(std::move(fd)), path_(std::move(path)), permissions_(permissions) {}

  // The error for a refused or failed operation on `name`: "<what> <name> in <dir>: <reason>".
  Error failure(std::string_view what, std::string_view name, int err) const;

  Fd fd_;
  std::filesystem::path path_;
  Permissions permissions_;
};

// Whether `name` is one path component: not empty, not "." or "..", no '/' and no NUL.
bool is_plain_name(std::string_view name);

}  // namespace recorder::storage
