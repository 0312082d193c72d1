// WindowReader: reads a file through a 1 MiB window, so a walk over its records (the record
// scanner, a ring's chunk reader) costs few syscalls. Not thread-safe; the fd is borrowed.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

namespace recorder::sink {

class WindowReader {
 public:
  static constexpr size_t kWindow = 1u << 20;
  WindowReader(int fd, uint64_t limit) : fd_(fd), limit_(limit), buffer_(kWindow) {}

  // Points at `n` bytes at `offset` (n <= 1 MiB), or nullptr when beyond the limit/EOF.
  // Sets error_ on a read failure.
  const uint8_t* at(uint64_t offset, size_t n) {
    if (offset + n > limit_) return nullptr;
    if (offset >= start_ && offset + n <= start_ + filled_)
      return buffer_.data() + (offset - start_);
    start_ = offset;
    filled_ = 0;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), limit_ - offset));
    while (filled_ < want) {
      const ssize_t r = pread(fd_, buffer_.data() + filled_, want - filled_,
                              static_cast<off_t>(start_ + filled_));
      if (r < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return nullptr;
      }
      if (r == 0) break;
      filled_ += static_cast<size_t>(r);
    }
    if (n > filled_) return nullptr;
    return buffer_.data();
  }
  int error() const { return error_; }

 private:
  int fd_;
  uint64_t limit_;
  std::vector<uint8_t> buffer_;
  uint64_t start_ = 0;
  size_t filled_ = 0;
  int error_ = 0;
};

}  // namespace recorder::sink
