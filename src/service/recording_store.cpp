#include "service/recording_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

#include "service/recording_metadata.h"

namespace recorder::service {
namespace fs = std::filesystem;

Result<std::unique_ptr<RecordingStore>> RecordingStore::open(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    return Error(ErrorCode::kUnavailable,
                 "create storage directory " + path.string() + ": " + ec.message());
  }
  fs::path canonical = fs::canonical(path, ec);
  if (ec) {
    return Error(ErrorCode::kUnavailable,
                 "resolve storage directory " + path.string() + ": " + ec.message());
  }
  if (::access(canonical.c_str(), W_OK) != 0) {
    return Error::from_errno("storage directory " + canonical.string() + " is not writable", errno,
                             ErrorCode::kUnavailable);
  }
  return std::unique_ptr<RecordingStore>(new RecordingStore(std::move(canonical)));
}

Result<std::vector<std::string>> RecordingStore::names() const {
  std::error_code ec;
  std::vector<std::string> out;
  for (const auto& dirent : fs::directory_iterator(path_, ec)) {
    out.push_back(dirent.path().filename().string());
  }
  if (ec) return Error(ErrorCode::kInternal, "list " + path_.string() + ": " + ec.message());
  return out;
}

Status RecordingStore::save(const RecordingInfo& info) const {
  // Written to a temporary name and renamed, so a crash never leaves half a metadata file.
  fs::path path = path_ / metadata_file_name(info.file_name);
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << to_metadata_json(info);
    if (!out) return Error(ErrorCode::kInternal, "write recording metadata " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Error(ErrorCode::kInternal, "rename " + tmp.string() + ": " + ec.message());
  return ok_status();
}

Result<std::string> RecordingStore::read_metadata(std::string_view file_name) const {
  const fs::path path = path_ / metadata_file_name(file_name);
  std::ifstream in(path);
  if (!in) return Error(ErrorCode::kNotFound, "no metadata " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<uint64_t> RecordingStore::file_size(std::string_view name) const {
  struct stat st {};
  if (::fstatat(-1, (path_ / std::string(name)).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    return Error::from_errno("stat " + std::string(name), err,
                             err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInternal);
  }
  if (!S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kFailedPrecondition, std::string(name) + " is not a regular file");
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<int> RecordingStore::open_for_reading(std::string_view name) const {
  const fs::path path = path_ / std::string(name);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error::from_errno("open " + path.string(), errno);
  return fd;
}

Status RecordingStore::remove(std::string_view file_name) const {
  std::error_code ec;
  const fs::path file = path_ / std::string(file_name);
  if (!fs::remove(file, ec) && ec) {
    return Error(ErrorCode::kInternal, fmt::format("remove {}: {}", file.string(), ec.message()));
  }
  fs::remove(path_ / metadata_file_name(file_name), ec);
  return ok_status();
}

Result<uint64_t> RecordingStore::free_bytes() const {
  struct statvfs st {};
  if (::statvfs(path_.c_str(), &st) != 0) {
    return Error::from_errno("statvfs " + path_.string(), errno);
  }
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace recorder::service
