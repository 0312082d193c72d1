#include "service/file_names.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace recorder::service {
namespace fs = std::filesystem;

Result<fs::path> confine_to_storage(const fs::path& storage, std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return Error(
        ErrorCode::kInvalidArgument,
        fmt::format("file name \"{}\" is not a plain name inside the storage directory", name));
  }
  fs::path candidate = storage / std::string(name);
  char resolved[PATH_MAX];
  if (::realpath(candidate.c_str(), resolved) == nullptr) {
    int err = errno;
    return Error::from_errno("resolve " + candidate.string(), err,
                             err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInternal);
  }
  char root[PATH_MAX];
  if (::realpath(storage.c_str(), root) == nullptr) {
    return Error::from_errno("resolve storage directory " + storage.string(), errno);
  }
  fs::path real(resolved);
  if (real.parent_path() != fs::path(root)) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{} resolves to {}, outside the storage directory {}",
                             candidate.string(), real.string(), root));
  }
  struct stat st {};
  if (::stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{} is not a regular file", real.string()));
  }
  return real;
}

}  // namespace recorder::service
