#include "sink/free_space_floor.h"

#include <sys/statvfs.h>

#include <algorithm>

namespace recorder::sink {

uint64_t FreeSpaceFloor::claim(int fd, dev_t dev, uint64_t bytes) {
  if (!enabled() || bytes == 0) return bytes;
  std::lock_guard lock(mu_);
  Filesystem& fs = filesystems_[dev];
  if (bytes > fs.budget) {
    struct statvfs st {};
    if (::fstatvfs(fd, &st) != 0) return 0;  // cannot tell: keep the floor
    const uint64_t free = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    const uint64_t reserved = floor_ + fs.in_flight;
    const uint64_t above = free > reserved ? free - reserved : 0;
    fs.budget = std::min(above, std::max(check_every_, bytes));
  }
  const uint64_t granted = std::min(bytes, fs.budget);
  fs.budget -= granted;
  fs.in_flight += granted;
  return granted;
}

void FreeSpaceFloor::settle(dev_t dev, uint64_t bytes) {
  if (!enabled() || bytes == 0) return;
  std::lock_guard lock(mu_);
  Filesystem& fs = filesystems_[dev];
  fs.in_flight -= std::min(fs.in_flight, bytes);
}

}  // namespace recorder::sink
