#include "sink/recovery.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "sink/record_scanner.h"

namespace recorder::sink {
namespace {

constexpr std::string_view kSuffix = ".partial";

void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

RecoveredFile recover_one(const std::filesystem::path& partial, const std::string& final_name) {
  RecoveredFile r;
  r.partial_path = partial;
  r.final_path = partial.parent_path() / final_name;
  const int fd = ::open(partial.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    r.corrupt = true;
    r.reason = std::string("open: ") + std::strerror(errno);
  } else {
    struct stat st {};
    ::fstat(fd, &st);
    const auto size = static_cast<uint64_t>(st.st_size);
    auto scan = scan_records(fd, size);
    if (!scan.ok()) {
      r.corrupt = true;
      r.reason = scan.error().message();
    } else {
      r.packets_kept = scan->packets;
      r.bytes_kept = scan->valid_end;
      r.bytes_cut = size - scan->valid_end;
      if (::ftruncate(fd, static_cast<off_t>(scan->valid_end)) != 0 || ::fsync(fd) != 0) {
        r.corrupt = true;
        r.reason = std::string("truncate to last complete record: ") + std::strerror(errno);
      }
    }
    ::close(fd);
  }
  if (r.corrupt) r.final_path += ".corrupt";
  // Never replace a file that is already there (a finished recording of the same name).
  if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, r.final_path.c_str(), RENAME_NOREPLACE) !=
      0) {
    r.corrupt = true;
    r.reason += (r.reason.empty() ? "" : "; ") +
                ("rename to " + r.final_path.string() + ": " + std::strerror(errno));
    r.final_path = partial;
  }
  return r;
}

}  // namespace

Result<std::vector<RecoveredFile>> recover_partial_files(const std::filesystem::path& dir) {
  std::vector<RecoveredFile> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    return Error(ErrorCode::kNotFound,
                 "list partial files in " + dir.string() + ": " + ec.message(), ec.value());
  }
  std::vector<std::filesystem::path> found;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 1 + kSuffix.size() && name[0] == '.' && name.ends_with(kSuffix) &&
        entry.is_regular_file(ec)) {
      found.push_back(entry.path());
    }
  }
  for (const auto& partial : found) {
    const std::string name = partial.filename().string();
    out.push_back(recover_one(partial, name.substr(1, name.size() - 1 - kSuffix.size())));
  }
  if (!found.empty()) fsync_dir(dir);
  return out;
}

}  // namespace recorder::sink
