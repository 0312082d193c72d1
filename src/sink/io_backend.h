// IoBackend: how a writer thread gets bytes to disk, behind one small interface so the writer
// logic is the same for io_uring and for plain pwrite() (the fallback when io_uring cannot be
// set up or is disabled by configuration). One backend per writer thread; not thread-safe.
//
// queue_write() stages a write, submit() starts the staged ones, reap() hands back finished
// writes: result >= 0 is the byte count (possibly short), < 0 is -errno. The pwrite backend does
// the write inside queue_write() and only reports it from reap().
//
// register_memory() lets the backend pin a sink's ring once (io_uring fixed buffers), so a write
// from it does not pin and unpin its pages every time (most of an O_DIRECT write's CPU cost
// here); writes from registered memory pass the returned slot. -1: not registered (no io_uring,
// RLIMIT_MEMLOCK, too large); writes then work as before.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

namespace recorder::sink {

struct IoCompletion {
  void* user = nullptr;
  int result = 0;
};

class IoBackend {
 public:
  virtual ~IoBackend() = default;
  virtual void queue_write(int fd, const void* buf, size_t len, uint64_t offset, void* user,
                           int memory_slot = -1) = 0;
  virtual int register_memory(const void* base, size_t len) = 0;
  // Only once no write from that memory is in flight.
  virtual void unregister_memory(int slot) = 0;
  virtual void submit() = 0;
  // Fills up to `max` completions; waits up to `wait` for the first when none is ready.
  virtual size_t reap(std::chrono::microseconds wait, IoCompletion* out, size_t max) = 0;
};

// An io_uring with `entries` submission entries. kUnavailable with the reason when the kernel,
// a sysctl (kernel.io_uring_disabled) or seccomp refuses it.
Result<std::unique_ptr<IoBackend>> make_io_uring_backend(unsigned entries);
std::unique_ptr<IoBackend> make_pwrite_backend();

}  // namespace recorder::sink
