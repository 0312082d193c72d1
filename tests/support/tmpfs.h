// SmallTmpfs: a tmpfs of a given size mounted on a fresh directory, for tests of a full disk
// for real (needs root: check before). Unmounted and removed when the test ends, also when it
// fails. The one tmpfs fixture for tests.
#pragma once

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace recorder::test {

class SmallTmpfs {
 public:
  // `size` as mount(8) takes it: "1m", "2m", "512k".
  explicit SmallTmpfs(const std::string& size) {
    std::string tmpl = (std::filesystem::temp_directory_path() /
                        ("prtfs" + std::to_string(::getpid()) + ".XXXXXX"))
                           .string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      error_ = std::string("mkdtemp: ") + std::strerror(errno);
      return;
    }
    path_ = tmpl;
    const std::string options = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::string("mount tmpfs: ") + std::strerror(errno);
    }
  }
  ~SmallTmpfs() {
    if (mounted_ && ::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::filesystem::path& path() const { return path_; }

  // Bytes free for an unprivileged writer right now.
  uint64_t free_bytes() const {
    struct statvfs st {};
    if (::statvfs(path_.c_str(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace recorder::test
