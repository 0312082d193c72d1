#include "storage/directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace recorder::storage {
namespace {

ErrorCode code_for(int err) {
  switch (err) {
    case EEXIST:
    case ENOTEMPTY:
      return ErrorCode::kAlreadyExists;
    case ENOENT:
      return ErrorCode::kNotFound;
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return ErrorCode::kResourceExhausted;
    case ELOOP:
    case EXDEV:
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOTDIR:
    case EISDIR:
      return ErrorCode::kFailedPrecondition;
    default:
      return ErrorCode::kInternal;
  }
}

// openat2 beneath `dir` with no symbolic link anywhere; openat(O_NOFOLLOW) where the kernel (or
// a seccomp filter) has no openat2, which is as strict for the single-component names we allow.
// Returns the fd or -errno.
int open_beneath(int dir, const char* name, int flags, mode_t mode) {
  flags |= O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
  open_how how{};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dir, name, &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    const int err = errno;
    if (err == EINTR || err == EAGAIN) continue;
    if (err != ENOSYS && err != EPERM) return -err;
    break;  // no openat2 here (EPERM: a seccomp filter that refuses unknown syscalls)
  }
  for (;;) {
    const int fd = ::openat(dir, name, flags, mode);
    if (fd >= 0) return fd;
    const int err = errno;
    if (err != EINTR) return -err;
  }
}

}  // namespace

Permissions Permissions::readable_by_group(gid_t group) {
  Permissions p;
  p.file_mode = 0640;
  p.dir_mode = 0750;
  p.group = group;
  return p;
}

Result<gid_t> group_id(const std::string& name) {
  std::vector<char> buffer(16384);
  group entry{};
  group* found = nullptr;
  for (;;) {
    const int err = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (err == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (err != 0) return Error::from_errno("look up group '" + name + "'", err);
    break;
  }
  if (found == nullptr) return Error(ErrorCode::kNotFound, "no group named '" + name + "'");
  return found->gr_gid;
}

bool is_plain_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

Error Directory::failure(std::string_view what, std::string_view name, int err) const {
  std::string reason;
  if (err == ELOOP) {
    reason = "it is a symbolic link (refused)";
  } else {
    reason = std::strerror(err);
  }
  return Error(code_for(err), fmt::format("{} {} in {}: {}", what, name, path_.string(), reason),
               err);
}

Result<Directory> Directory::open(const std::filesystem::path& path, Permissions permissions) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Error::from_errno("open directory " + path.string(), err, code_for(err));
  }
  return Directory(Fd(fd), path, permissions);
}

Result<Directory> Directory::open_or_create(const std::filesystem::path& path,
                                            Permissions permissions) {
  if (auto existing = open(path, permissions);
      existing.ok() || existing.error().sys_errno() != ENOENT) {
    return existing;
  }
  std::filesystem::path normal = path.lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();  // "a/b/" -> "a/b"
  const std::filesystem::path leaf = normal.filename();
  std::filesystem::path parent = normal.parent_path();
  if (parent.empty()) parent = ".";
  if (!is_plain_name(leaf.native())) {
    return Error(ErrorCode::kInvalidArgument, "create directory " + path.string() +
                                                  ": the path does not end in a directory name");
  }
  // Missing parents as mkdir -p makes them: they hold nothing of ours.
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    return Error(code_for(ec.value()), "create directory " + parent.string() + ": " + ec.message(),
                 ec.value());
  }
  auto up = open(parent, permissions);
  if (!up) return std::move(up).error().wrap("create directory " + path.string());
  // 0700 until its final mode is set: no moment where the umask let others in.
  bool created = false;
  if (::mkdirat(up->fd(), leaf.c_str(), 0700) == 0) {
    created = true;
  } else if (errno != EEXIST) {  // EEXIST: created meanwhile by someone else; use it as it is
    return up->failure("create directory", leaf.native(), errno);
  }
  const int fd = open_beneath(up->fd(), leaf.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return up->failure("open directory", leaf.native(), -fd);
  Directory dir(Fd(fd), path, permissions);
  if (created) {
    if (permissions.group && ::fchown(dir.fd(), static_cast<uid_t>(-1), *permissions.group) != 0) {
      return up->failure(fmt::format("give group {} the directory", *permissions.group),
                         leaf.native(), errno);
    }
    if (::fchmod(dir.fd(), permissions.dir_mode) != 0) {
      return up->failure(fmt::format("set mode {:o} of directory", permissions.dir_mode),
                         leaf.native(), errno);
    }
  }
  return dir;
}

Result<Fd> Directory::create_file(std::string_view name, int flags) const {
  if (!is_plain_name(name)) {
    return Error(
        ErrorCode::kInvalidArgument,
        fmt::format("create file in {}: '{}' is not a plain file name", path_.string(), name));
  }
  const std::string n(name);
  // 0600 until the final mode is set, whatever the umask.
  const int fd = open_beneath(fd_.get(), n.c_str(), flags | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return failure("create file", name, -fd);
  Fd file(fd);
  int err = 0;
  std::string what;
  if (permissions_.group && ::fchown(fd, static_cast<uid_t>(-1), *permissions_.group) != 0) {
    err = errno;
    what = fmt::format("give group {} the file", *permissions_.group);
  } else if (::fchmod(fd, permissions_.file_mode) != 0) {
    err = errno;
    what = fmt::format("set mode {:o} of file", permissions_.file_mode);
  }
  if (err != 0) {
    file.reset();
    ::unlinkat(fd_.get(), n.c_str(), 0);  // we created it a moment ago under O_EXCL
    return failure(what, name, err);
  }
  return file;
}

Result<Fd> Directory::open_file(std::string_view name, int flags) const {
  if (!is_plain_name(name)) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("open file in {}: '{}' is not a plain "
                                                          "file name",
                                                          path_.string(), name));
  }
  if (flags & (O_CREAT | O_TMPFILE)) {
    return Error(ErrorCode::kInvalidArgument, "open_file does not create; use create_file");
  }
  const std::string n(name);
  // O_NONBLOCK: opening a planted FIFO must not block; it is cleared again below.
  const int fd = open_beneath(fd_.get(), n.c_str(), flags | O_NONBLOCK, 0);
  if (fd < 0) return failure("open file", name, -fd);
  Fd file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return failure("stat file", name, errno);
  if (!S_ISREG(st.st_mode)) {
    return Error(
        ErrorCode::kFailedPrecondition,
        fmt::format("open file {} in {}: not a regular file (refused)", name, path_.string()));
  }
  if (st.st_nlink != 1) {
    return Error(ErrorCode::kFailedPrecondition,
                 fmt::format("open file {} in {}: it has {} hard links (refused: a file here "
                             "must have one name, not be a link to a file elsewhere)",
                             name, path_.string(), st.st_nlink));
  }
  if (!(flags & O_NONBLOCK)) {
    const int status = ::fcntl(fd, F_GETFL);
    if (status < 0 || ::fcntl(fd, F_SETFL, status & ~O_NONBLOCK) != 0) {
      return failure("clear O_NONBLOCK on file", name, errno);
    }
  }
  return file;
}

Status Directory::rename(std::string_view from, std::string_view to) const {
  if (!is_plain_name(from) || !is_plain_name(to)) {
    return Error(
        ErrorCode::kInvalidArgument,
        fmt::format("rename '{}' to '{}' in {}: not plain file names", from, to, path_.string()));
  }
  const std::string f(from), t(to);
  if (::renameat2(fd_.get(), f.c_str(), fd_.get(), t.c_str(), RENAME_NOREPLACE) != 0) {
    const int err = errno;
    return failure("rename", fmt::format("{} to {}", from, to), err);
  }
  return ok_status();
}

Status Directory::unlink(std::string_view name) const {
  if (!is_plain_name(name)) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("remove '{}' in {}: not a plain file name", name, path_.string()));
  }
  const std::string n(name);
  if (::unlinkat(fd_.get(), n.c_str(), 0) != 0) return failure("remove", name, errno);
  return ok_status();
}

Status Directory::sync() const {
  if (::fsync(fd_.get()) != 0) {
    const int err = errno;
    return Error::from_errno("fsync directory " + path_.string(), err, code_for(err));
  }
  return ok_status();
}

Result<struct stat> Directory::stat(std::string_view name) const {
  if (!is_plain_name(name)) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("stat '{}' in {}: not a plain file name", name, path_.string()));
  }
  const std::string n(name);
  struct stat st {};
  if (::fstatat(fd_.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return failure("stat", name, errno);
  }
  return st;
}

Result<bool> Directory::exists(std::string_view name) const {
  auto st = stat(name);
  if (st.ok()) return true;
  if (st.error().sys_errno() == ENOENT) return false;
  return std::move(st).error();
}

Result<std::vector<std::string>> Directory::list() const {
  // A directory stream of its own: readdir moves the file offset, and fd_ may be used by other
  // threads at the same time.
  const int fd = open_beneath(fd_.get(), ".", O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return Error::from_errno("list " + path_.string(), -fd, code_for(-fd));
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return Error::from_errno("list " + path_.string(), err, code_for(err));
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) {
      const int err = errno;
      ::closedir(d);
      if (err != 0) return Error::from_errno("list " + path_.string(), err, code_for(err));
      return names;
    }
    const std::string_view name(e->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
}

Result<uint64_t> Directory::free_bytes() const {
  struct statvfs st {};
  if (::fstatvfs(fd_.get(), &st) != 0) {
    const int err = errno;
    return Error::from_errno("statvfs " + path_.string(), err);
  }
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace recorder::storage
