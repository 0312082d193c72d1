#include "service/recording_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "service/recording_metadata.h"

namespace recorder::service {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTemporarySuffix = ".tmp";
// Metadata larger than this is not ours.
constexpr size_t kMaxMetadataBytes = 1u << 20;

// The space a recording's metadata gets: its JSON at the start, plus room for what the stop
// adds (counters, a stop message), in whole 4 KiB blocks.
uint64_t reservation_bytes(const RecordingInfo& info) {
  const uint64_t start_size = to_metadata_json(info).size();
  return (start_size + 4096 + 4095) / 4096 * 4096;
}

Status write_all(int fd, std::string_view text, const std::string& what) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n =
        ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      return Error::from_errno(
          what, err,
          err == ENOSPC || err == EDQUOT ? ErrorCode::kResourceExhausted : ErrorCode::kInternal);
    }
    done += static_cast<size_t>(n);
  }
  return ok_status();
}

// Makes sure `bytes` of the file are allocated, so later writes within them need no new space.
Status allocate(int fd, uint64_t bytes, const std::string& what) {
  if (::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) == 0) return ok_status();
  const int err = errno;
  if (err != EOPNOTSUPP && err != ENOSYS) {
    return Error::from_errno(
        what, err,
        err == ENOSPC || err == EDQUOT ? ErrorCode::kResourceExhausted : ErrorCode::kInternal);
  }
  // No fallocate on this filesystem: writing the bytes allocates them just as well.
  return write_all(fd, std::string(bytes, ' '), what);
}

}  // namespace

Result<std::unique_ptr<RecordingStore>> RecordingStore::open(const fs::path& path,
                                                             storage::Permissions permissions) {
  auto dir = storage::Directory::open_or_create(path, permissions);
  if (!dir) {
    return Error(ErrorCode::kUnavailable, dir.error().message()).wrap("storage directory");
  }
  std::error_code ec;
  fs::path canonical = fs::canonical(path, ec);
  if (ec) {
    return Error(ErrorCode::kUnavailable,
                 "resolve storage directory " + path.string() + ": " + ec.message());
  }
  if (::faccessat(dir->fd(), ".", W_OK, AT_EACCESS) != 0) {
    return Error::from_errno("storage directory " + canonical.string() + " is not writable", errno,
                             ErrorCode::kUnavailable);
  }
  return std::unique_ptr<RecordingStore>(new RecordingStore(std::move(*dir), std::move(canonical)));
}

Result<std::vector<std::string>> RecordingStore::names() const { return dir_.list(); }

Result<Fd> RecordingStore::create_temporary(const std::string& name) const {
  auto fd = dir_.create_file(name, O_RDWR);
  if (!fd && fd.error().code() == ErrorCode::kAlreadyExists) {
    // A leftover of a crash, or planted: the name is ours, whatever is there goes (unlink
    // removes a link itself, never its target).
    spdlog::warn("replacing {} in {}: it existed before its recording started", name,
                 path_.string());
    if (auto s = dir_.unlink(name); !s) return std::move(s).error();
    fd = dir_.create_file(name, O_RDWR);
  }
  return fd;
}

Result<MetadataSlot> RecordingStore::reserve_metadata(const RecordingInfo& info) const {
  MetadataSlot slot;
  const std::string name = metadata_file_name(info.file_name) + std::string(kTemporarySuffix);
  auto fd = create_temporary(name);
  if (!fd) return std::move(fd).error().wrap("reserve recording metadata");
  const std::string what =
      fmt::format("reserve space for recording metadata {} in {}", name, path_.string());
  if (auto s = allocate(fd->get(), reservation_bytes(info), what); !s) {
    fd->reset();
    (void)dir_.unlink(name);
    return std::move(s).error();
  }
  slot.temp_name_ = name;
  slot.fd_ = std::move(*fd);
  return slot;
}

Status RecordingStore::save(const RecordingInfo& info, MetadataSlot& slot) const {
  const std::string final_name = metadata_file_name(info.file_name);
  const std::string what =
      fmt::format("write recording metadata {} in {}", final_name, path_.string());
  if (slot.empty()) {
    slot.temp_name_ = final_name + std::string(kTemporarySuffix);
    slot.renamed_ = false;
  }
  if (!slot.renamed_) {
    if (!slot.fd_) {
      auto fd = create_temporary(slot.temp_name_);
      if (!fd) return std::move(fd).error().wrap(what);
      slot.fd_ = std::move(*fd);
    }
    const std::string text = to_metadata_json(info);
    const int fd = slot.fd_.get();
    if (auto s = write_all(fd, text, what); !s) return s;
    // Cut to the JSON's size: frees the rest of the reservation.
    if (::ftruncate(fd, static_cast<off_t>(text.size())) != 0) {
      return Error::from_errno(what + ": truncate", errno);
    }
    if (::fsync(fd) != 0) return Error::from_errno(what + ": fsync", errno);
    auto renamed = dir_.rename(slot.temp_name_, final_name);
    if (!renamed && renamed.error().code() == ErrorCode::kAlreadyExists) {
      // Metadata of this name exists already (written before, or planted): ours replaces it.
      if (auto s = dir_.unlink(final_name); !s) return std::move(s).error().wrap(what);
      renamed = dir_.rename(slot.temp_name_, final_name);
    }
    if (!renamed) return std::move(renamed).error().wrap(what);
    slot.renamed_ = true;
    slot.fd_.reset();
  }
  if (auto s = dir_.sync(); !s) return std::move(s).error().wrap(what);
  slot = MetadataSlot();
  return ok_status();
}

void RecordingStore::discard(MetadataSlot& slot) const {
  if (!slot.empty() && !slot.renamed_) {
    slot.fd_.reset();
    if (auto s = dir_.unlink(slot.temp_name_); !s && s.error().code() != ErrorCode::kNotFound) {
      spdlog::warn("{}", s.error().message());
    }
  }
  slot = MetadataSlot();
}

size_t RecordingStore::remove_stale_reservations() const {
  auto names = dir_.list();
  if (!names) return 0;
  size_t removed = 0;
  for (const auto& name : *names) {
    if (name.size() > 1 && name[0] == '.' && name.ends_with(".json.tmp")) {
      if (auto s = dir_.unlink(name); s) {
        ++removed;
      } else {
        spdlog::warn("{}", s.error().message());
      }
    }
  }
  return removed;
}

Result<std::string> RecordingStore::read_metadata(std::string_view file_name) const {
  const std::string name = metadata_file_name(file_name);
  auto fd = dir_.open_file(name, O_RDONLY);
  if (!fd) return std::move(fd).error();
  std::string text;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd->get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("read " + name + " in " + path_.string(), errno);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxMetadataBytes) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("{} in {}: larger than {} bytes, not recording metadata", name,
                               path_.string(), kMaxMetadataBytes));
    }
  }
  return text;
}

Result<uint64_t> RecordingStore::file_size(std::string_view name) const {
  auto st = dir_.stat(name);
  if (!st) return std::move(st).error();
  if (!S_ISREG(st->st_mode)) {
    return Error(ErrorCode::kFailedPrecondition, std::string(name) + " is not a regular file");
  }
  return static_cast<uint64_t>(st->st_size);
}

Result<Fd> RecordingStore::open_for_reading(std::string_view name) const {
  return dir_.open_file(name, O_RDONLY);
}

Status RecordingStore::remove(std::string_view file_name) const {
  for (const std::string& name : {std::string(file_name), metadata_file_name(file_name)}) {
    if (auto s = dir_.unlink(name); !s && s.error().code() != ErrorCode::kNotFound) return s;
  }
  return ok_status();
}

Result<uint64_t> RecordingStore::free_bytes() const { return dir_.free_bytes(); }

}  // namespace recorder::service
