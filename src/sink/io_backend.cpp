#include "sink/io_backend.h"

#include <liburing.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <deque>

namespace recorder::sink {
namespace {

class IoUringBackend final : public IoBackend {
 public:
  IoUringBackend() = default;
  ~IoUringBackend() override {
    if (initialized_) io_uring_queue_exit(&ring_);
  }

  Status init(unsigned entries) {
    const int ret = io_uring_queue_init(entries, &ring_, 0);
    if (ret < 0) {
      return Error::from_errno("io_uring_queue_init", ret, ErrorCode::kUnavailable);
    }
    initialized_ = true;
    // A sparse table of fixed buffers, filled as sinks come (kernel 5.19+; without it every
    // write simply pins its pages itself).
    fixed_slots_ = io_uring_register_buffers_sparse(&ring_, kFixedSlots) == 0;
    return ok_status();
  }

  int register_memory(const void* base, size_t len) override {
    if (!fixed_slots_ || len > kMaxFixedBytes) return -1;
    for (unsigned slot = 0; slot < kFixedSlots; ++slot) {
      if (used_[slot]) continue;
      iovec iov{const_cast<void*>(base), len};
      if (io_uring_register_buffers_update_tag(&ring_, slot, &iov, nullptr, 1) != 1) return -1;
      used_[slot] = true;
      return static_cast<int>(slot);
    }
    return -1;
  }

  void unregister_memory(int slot) override {
    if (slot < 0 || slot >= static_cast<int>(kFixedSlots) || !used_[slot]) return;
    iovec empty{nullptr, 0};
    io_uring_register_buffers_update_tag(&ring_, static_cast<unsigned>(slot), &empty, nullptr, 1);
    used_[slot] = false;
  }

  void queue_write(int fd, const void* buf, size_t len, uint64_t offset, void* user,
                   int memory_slot) override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      // Submission queue full: hand what is staged to the kernel and take a fresh entry.
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    if (memory_slot >= 0) {
      io_uring_prep_write_fixed(sqe, fd, buf, static_cast<unsigned>(len), offset, memory_slot);
    } else {
      io_uring_prep_write(sqe, fd, buf, static_cast<unsigned>(len), offset);
    }
    io_uring_sqe_set_data(sqe, user);
  }

  void submit() override { io_uring_submit(&ring_); }

  size_t reap(std::chrono::microseconds wait, IoCompletion* out, size_t max) override {
    size_t n = 0;
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(&ring_, &cqe) != 0 && wait.count() > 0) {
      __kernel_timespec ts{};
      ts.tv_sec = wait.count() / 1000000;
      ts.tv_nsec = (wait.count() % 1000000) * 1000;
      if (io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) != 0) return 0;
    }
    while (n < max && io_uring_peek_cqe(&ring_, &cqe) == 0) {
      out[n].user = io_uring_cqe_get_data(cqe);
      out[n].result = cqe->res;
      ++n;
      io_uring_cqe_seen(&ring_, cqe);
    }
    return n;
  }

 private:
  static constexpr unsigned kFixedSlots = 256;               // one per recording at most
  static constexpr size_t kMaxFixedBytes = size_t{1} << 30;  // the kernel's limit per buffer
  io_uring ring_{};
  bool initialized_ = false;
  bool fixed_slots_ = false;
  bool used_[kFixedSlots] = {};
};

class PwriteBackend final : public IoBackend {
 public:
  int register_memory(const void*, size_t) override { return -1; }
  void unregister_memory(int) override {}

  void queue_write(int fd, const void* buf, size_t len, uint64_t offset, void* user, int) override {
    const auto* p = static_cast<const uint8_t*>(buf);
    size_t done = 0;
    int result = 0;
    while (done < len) {
      const ssize_t r = ::pwrite(fd, p + done, len - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        result = -errno;
        break;
      }
      if (r == 0) break;  // reported as a short write, like io_uring would
      done += static_cast<size_t>(r);
    }
    done_.push_back({user, result < 0 && done == 0 ? result : static_cast<int>(done)});
  }

  void submit() override {}

  size_t reap(std::chrono::microseconds, IoCompletion* out, size_t max) override {
    size_t n = 0;
    while (n < max && !done_.empty()) {
      out[n++] = done_.front();
      done_.pop_front();
    }
    return n;
  }

 private:
  std::deque<IoCompletion> done_;
};

}  // namespace

Result<std::unique_ptr<IoBackend>> make_io_uring_backend(unsigned entries) {
  auto backend = std::make_unique<IoUringBackend>();
  if (auto st = backend->init(entries); !st.ok()) return std::move(st).error();
  return std::unique_ptr<IoBackend>(std::move(backend));
}

std::unique_ptr<IoBackend> make_pwrite_backend() { return std::make_unique<PwriteBackend>(); }

}  // namespace recorder::sink
