// StuckDisk: an ext4 filesystem in a loop file, mounted on a fresh directory, that can be made
// to hang like a dead disk: suspend() freezes it (FIFREEZE, as fsfreeze(8) does), so every write,
// create or rename on it blocks in the kernel until resume() thaws it. (Device-mapper's suspend
// would be the closer model of a hung device, but these kernels are built without it.) Needs
// root, losetup (mount -o loop), mkfs.ext4 and fsfreeze. Thawed, unmounted and removed when the
// test ends, also when it fails; Suspension thaws it when it goes out of scope, so declare one
// after whatever must not outlive a hung disk (a daemon that is to exit).
#pragma once

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace recorder::test {

class StuckDisk {
 public:
  explicit StuckDisk(int megabytes = 64)
      : name_("prstuck" + std::to_string(::getpid()) + "_" + std::to_string(counter()++)) {
    // Its own directory (not TempDir: the integration fixture still has a copy of that class).
    std::string tmpl = (std::filesystem::temp_directory_path() / (name_ + ".XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    image_ = dir_ / "disk.img";
    mount_ = dir_ / "mnt";
    std::filesystem::create_directories(mount_);
    if (run("truncate -s " + std::to_string(megabytes) + "M " + image_.string()) != 0) {
      error_ = "truncate failed";
      return;
    }
    if (run("mkfs.ext4 -q -F " + image_.string()) != 0) {
      error_ = "mkfs.ext4 failed";
      return;
    }
    if (run("mount -o loop " + image_.string() + " " + mount_.string()) != 0) {
      error_ = "mount -o loop failed";
      return;
    }
    mounted_ = true;
  }
  ~StuckDisk() {
    resume();
    // The loop device goes with the unmount (mount -o loop sets it to autoclear).
    if (mounted_ && ::umount2(mount_.c_str(), 0) != 0) ::umount2(mount_.c_str(), MNT_DETACH);
    std::error_code ec;
    if (!dir_.empty() && !mounted_still()) std::filesystem::remove_all(dir_, ec);
  }
  StuckDisk(const StuckDisk&) = delete;
  StuckDisk& operator=(const StuckDisk&) = delete;

  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::filesystem::path& path() const { return mount_; }

  // From now on every write to the filesystem blocks (reads go on).
  bool suspend() {
    suspended_ = run("fsfreeze --freeze " + mount_.string()) == 0;
    return suspended_;
  }
  void resume() {
    if (suspended_ && run("fsfreeze --unfreeze " + mount_.string()) == 0) suspended_ = false;
  }

  // Thaws the filesystem when it goes out of scope.
  class Suspension {
   public:
    explicit Suspension(StuckDisk& disk) : disk_(disk), ok_(disk.suspend()) {}
    ~Suspension() { disk_.resume(); }
    Suspension(const Suspension&) = delete;
    Suspension& operator=(const Suspension&) = delete;
    bool ok() const { return ok_; }

   private:
    StuckDisk& disk_;
    bool ok_;
  };

 private:
  static std::atomic<int>& counter() {
    static std::atomic<int> n{0};
    return n;
  }
  static int run(const std::string& command) {
    const int rc = std::system((command + " >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  // Whether the mount point is still a mount (an unmount that failed): then keep the directory.
  bool mounted_still() const {
    std::error_code ec;
    return mounted_ && std::filesystem::exists(mount_ / "lost+found", ec);
  }

  std::string name_;
  std::filesystem::path dir_;
  std::filesystem::path image_;
  std::filesystem::path mount_;
  std::string error_;
  bool mounted_ = false;
  bool suspended_ = false;
};

}  // namespace recorder::test
