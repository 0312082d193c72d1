#include "sink/recovery.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sink/record_scanner.h"
#include "storage/directory.h"

namespace recorder::sink {
namespace {

constexpr std::string_view kSuffix = ".partial";

RecoveredFile recover_one(const storage::Directory& dir, const std::string& partial,
                          const std::string& final_name) {
  RecoveredFile r;
  r.partial_path = dir.path() / partial;
  r.final_path = dir.path() / final_name;
  std::string final = final_name;
  // O_RDWR on the opened, checked fd: a link planted under this name is refused, not followed.
  auto file = dir.open_file(partial, O_RDWR);
  if (!file) {
    if (file.error().code() == ErrorCode::kFailedPrecondition) {
      r.refused = true;
      r.reason = file.error().message();
      r.final_path = r.partial_path;
      return r;
    }
    r.corrupt = true;
    r.reason = file.error().message();
  } else {
    struct stat st {};
    if (::fstat(file->get(), &st) != 0) {
      r.corrupt = true;
      r.reason = std::string("stat: ") + std::strerror(errno);
    } else {
      const auto size = static_cast<uint64_t>(st.st_size);
      auto scan = scan_records(file->get(), size);
      if (!scan.ok()) {
        r.corrupt = true;
        r.reason = scan.error().message();
      } else {
        r.packets_kept = scan->packets;
        r.bytes_kept = scan->valid_end;
        r.bytes_cut = size - scan->valid_end;
        if (::ftruncate(file->get(), static_cast<off_t>(scan->valid_end)) != 0 ||
            ::fsync(file->get()) != 0) {
          r.corrupt = true;
          r.reason = std::string("truncate to last complete record: ") + std::strerror(errno);
        }
      }
    }
  }
  if (r.corrupt) {
    final += ".corrupt";
    r.final_path += ".corrupt";
  }
  // Never replace a file that is already there (a finished recording of the same name).
  if (auto s = dir.rename(partial, final); !s.ok()) {
    r.corrupt = true;
    r.reason += (r.reason.empty() ? "" : "; ") + s.error().message();
    r.final_path = r.partial_path;
  }
  return r;
}

}  // namespace

Result<std::vector<RecoveredFile>> recover_partial_files(const std::filesystem::path& path) {
  auto dir = storage::Directory::open(path);
  if (!dir) return std::move(dir).error().wrap("recover partial files");
  auto names = dir->list();
  if (!names) return std::move(names).error().wrap("recover partial files");
  std::vector<RecoveredFile> out;
  for (const auto& name : *names) {
    if (name.size() > 1 + kSuffix.size() && name[0] == '.' && name.ends_with(kSuffix)) {
      out.push_back(recover_one(*dir, name, name.substr(1, name.size() - 1 - kSuffix.size())));
    }
  }
  if (!out.empty()) {
    if (auto s = dir->sync(); !s.ok()) return std::move(s).error().wrap("recover partial files");
  }
  return out;
}

}  // namespace recorder::sink
