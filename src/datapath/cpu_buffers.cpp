#include "datapath/cpu_buffers.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace recorder::datapath {
namespace {

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// A perf ring: perf_event_mmap_page, then data_size bytes (a power of two) of 8-byte-aligned
// records. A record may wrap around the end of the data; it is then copied whole into scratch.
class PerfCpuBuffer final : public CpuBufferRuns<PerfCpuBuffer> {
 public:
  PerfCpuBuffer(void* base, size_t data_bytes) : header_(static_cast<perf_event_mmap_page*>(base)) {
    const size_t offset = header_->data_offset != 0 ? header_->data_offset : page_size();
    size_ = header_->data_size != 0 ? header_->data_size : data_bytes;
    data_ = static_cast<uint8_t*>(base) + offset;
    tail_ = header_->data_tail;
  }

  void refresh() override { head_ = __atomic_load_n(&header_->data_head, __ATOMIC_ACQUIRE); }

  bool peek(Record& r) override {
    if (tail_ == head_) return false;
    const size_t offset = tail_ & (size_ - 1);
    const auto* h = reinterpret_cast<const perf_event_header*>(data_ + offset);
    current_ = h->size;
    const uint8_t* rec = data_ + offset;
    if (offset + h->size > size_) {
      const size_t first = size_ - offset;
      std::memcpy(scratch_, rec, first);
      std::memcpy(scratch_ + first, data_, h->size - first);
      rec = scratch_;
    }
    r = Record{};
    if (h->type == PERF_RECORD_SAMPLE && h->size >= 12) {
      uint32_t raw = 0;  // PERF_SAMPLE_RAW: u32 size, then the bytes the program emitted
      std::memcpy(&raw, rec + 8, sizeof raw);
      r.data = rec + 12;
      r.size = std::min<size_t>(raw, h->size - 12);
    } else if (h->type == PERF_RECORD_LOST && h->size >= 24) {
      std::memcpy(&r.lost, rec + 16, sizeof r.lost);  // header, id, lost
    }
    return true;
  }

  void pop() override { tail_ += current_; }

  void commit() override { __atomic_store_n(&header_->data_tail, tail_, __ATOMIC_RELEASE); }

  bool empty() override { return __atomic_load_n(&header_->data_head, __ATOMIC_ACQUIRE) == tail_; }

 private:
  perf_event_mmap_page* header_;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t head_ = 0, tail_ = 0;
  size_t current_ = 0;
  alignas(8) uint8_t scratch_[1u << 16];  // a perf record is at most 64 KiB (u16 size)
};

// A BPF ring buffer: a consumer page (ours to write), then the producer page and the data,
// mapped twice in a row by the kernel so a record never wraps. Records carry an 8-byte header
// whose length has a busy bit (not committed yet: stop) and a discard bit (skip).
class RingCpuBuffer final : public CpuBufferRuns<RingCpuBuffer> {
 public:
  static Result<std::unique_ptr<CpuBuffer>> open(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      return Error::from_errno("read a ring buffer's size", errno, ErrorCode::kUnavailable);
    }
    auto b = std::unique_ptr<RingCpuBuffer>(new RingCpuBuffer());
    b->page_ = page_size();
    b->size_ = info.max_entries;
    void* c = ::mmap(nullptr, b->page_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) {
      return Error::from_errno("map a ring buffer's consumer page", errno, ErrorCode::kUnavailable);
    }
    b->consumer_ = c;
    void* p = ::mmap(nullptr, b->page_ + 2 * b->size_, PROT_READ, MAP_SHARED, fd,
                     static_cast<off_t>(b->page_));
    if (p == MAP_FAILED) {
      return Error::from_errno("map a ring buffer's data", errno, ErrorCode::kUnavailable);
    }
    b->producer_ = p;
    b->data_ = static_cast<const uint8_t*>(p) + b->page_;
    b->tail_ = __atomic_load_n(static_cast<uint64_t*>(c), __ATOMIC_ACQUIRE);
    return std::unique_ptr<CpuBuffer>(std::move(b));
  }

  ~RingCpuBuffer() override {
    if (consumer_ != nullptr) ::munmap(consumer_, page_);
    if (producer_ != nullptr) ::munmap(producer_, page_ + 2 * size_);
  }

  void refresh() override {
    head_ = __atomic_load_n(static_cast<const uint64_t*>(producer_), __ATOMIC_ACQUIRE);
  }

  bool peek(Record& r) override {
    while (tail_ < head_) {
      const uint8_t* h = data_ + (tail_ & (size_ - 1));
      const uint32_t len = __atomic_load_n(reinterpret_cast<const uint32_t*>(h), __ATOMIC_ACQUIRE);
      if (len & BPF_RINGBUF_BUSY_BIT) return false;  // reserved, not submitted yet
      const uint32_t body = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      current_ = (body + BPF_RINGBUF_HDR_SZ + 7) & ~size_t{7};
      if (len & BPF_RINGBUF_DISCARD_BIT) {
        tail_ += current_;
        continue;
      }
      r = Record{h + BPF_RINGBUF_HDR_SZ, body, 0};
      return true;
    }
    return false;
  }

  void pop() override { tail_ += current_; }

  void commit() override {
    __atomic_store_n(static_cast<uint64_t*>(consumer_), tail_, __ATOMIC_RELEASE);
  }

  bool empty() override {
    return __atomic_load_n(static_cast<const uint64_t*>(producer_), __ATOMIC_ACQUIRE) == tail_;
  }

 private:
  RingCpuBuffer() = default;
  size_t page_ = 0;
  uint64_t size_ = 0;
  void* consumer_ = nullptr;
  void* producer_ = nullptr;
  const uint8_t* data_ = nullptr;
  uint64_t head_ = 0, tail_ = 0;
  size_t current_ = 0;
};

}  // namespace

Result<std::vector<std::unique_ptr<CpuBuffer>>> perf_cpu_buffers(perf_buffer* pb) {
  std::vector<std::unique_ptr<CpuBuffer>> out;
  const size_t n = perf_buffer__buffer_cnt(pb);
  for (size_t i = 0; i < n; ++i) {
    void* base = nullptr;
    size_t bytes = 0;
    if (perf_buffer__buffer(pb, static_cast<int>(i), &base, &bytes) != 0) {
      return Error(ErrorCode::kUnavailable, "read the perf buffer's per-CPU rings");
    }
    out.push_back(std::make_unique<PerfCpuBuffer>(base, bytes));
  }
  return out;
}

Result<std::vector<std::unique_ptr<CpuBuffer>>> ring_cpu_buffers(const std::vector<int>& fds) {
  std::vector<std::unique_ptr<CpuBuffer>> out;
  for (int fd : fds) {
    auto b = RingCpuBuffer::open(fd);
    if (!b) return std::move(b).error();
    out.push_back(std::move(b).value());
  }
  return out;
}

Result<int> ring_buffers_epoll(const std::vector<int>& ring_fds) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) {
    return Error::from_errno("create the ring buffers' epoll", errno, ErrorCode::kUnavailable);
  }
  for (int fd : ring_fds) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
      const int err = errno;
      ::close(epoll);
      return Error::from_errno("watch a ring buffer", err, ErrorCode::kUnavailable);
    }
  }
  return epoll;
}

}  // namespace recorder::datapath
