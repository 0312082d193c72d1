// OrderedReader: reads the kernel's per-CPU buffers in capture-time order.
//
// Each CPU's buffer (perf buffer or BPF ring buffer) is in time order, but draining them one
// after the other writes a file's packets in per-CPU batches: tshark then shows negative time
// deltas and TCP analysis flags retransmissions that never happened. The reader merges the
// buffers by the capture header's ktime_ns (a heap of per-CPU heads, with runs taken from one
// CPU while it stays the earliest), reading every record in place.
//
// A sample can be committed to its buffer a little after its timestamp was taken, so a round only
// delivers samples up to a horizon (the caller passes "now minus a window"); later ones wait in
// their buffer for the next round, which keeps the file in order across rounds too. The final
// drain passes no horizon.
//
// The CpuBuffer interface keeps the merge free of kernel details (cpu_buffers.h has the perf and
// ring buffer readers), so it is tested on its own. Its per-sample steps (peek, pop) are not
// called through the interface on the hot path: a buffer type derives from CpuBufferRuns<Self>,
// whose run() walks a run of samples with the type's own peek/pop inlined, one virtual call per
// run instead of several per sample. Single-threaded: the datapath reader thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

namespace recorder::datapath {

// Receives what the reader delivers.
struct SampleVisitor {
  virtual void sample(const uint8_t* data, size_t size) noexcept = 0;
  virtual void lost(uint64_t samples) noexcept = 0;

 protected:
  ~SampleVisitor() = default;
};

// One CPU's buffer, read in place. Implement it through CpuBufferRuns (below).
class CpuBuffer {
 public:
  struct Record {
    const uint8_t* data = nullptr;  // a sample: the capture header and packet bytes
    size_t size = 0;
    uint64_t lost = 0;  // a loss report instead of a sample (perf buffer only)
  };
  virtual ~CpuBuffer() = default;
  // Takes a snapshot of what the kernel has committed; peek() stays within it.
  virtual void refresh() = 0;
  // The next record, or false when the snapshot is used up. Valid until pop().
  virtual bool peek(Record& record) = 0;
  virtual void pop() = 0;
  // Hands the space of everything popped back to the kernel.
  virtual void commit() = 0;
  // Whether the kernel has committed nothing past what was popped: a fresh look at its
  // position, not the snapshot.
  virtual bool empty() = 0;
  // Delivers `head` (a sample, just peeked) and the samples after it while their ktime <= limit,
  // passing on the loss reports met on the way; counts them in `delivered`. Returns true with the
  // first later sample in `head` and its ktime in `next`, false once the snapshot is used up.
  virtual bool run(Record& head, uint64_t limit, SampleVisitor& visitor, uint64_t& next,
                   size_t& delivered) noexcept = 0;

  // A sample's capture time: the capture header starts with ktime_ns (recorder_abi.h); a sample
  // too short to hold it counts as time 0 (delivered at once and rejected there).
  static uint64_t ktime_of(const Record& r) noexcept {
    uint64_t ktime = 0;
    if (r.size >= sizeof(ktime)) std::memcpy(&ktime, r.data, sizeof(ktime));
    return ktime;
  }
};

// run() for a buffer type B (final, deriving from CpuBufferRuns<B>), with B's peek and pop called
// directly so that they inline.
template <class B>
class CpuBufferRuns : public CpuBuffer {
 public:
  bool run(Record& head, uint64_t limit, SampleVisitor& visitor, uint64_t& next,
           size_t& delivered) noexcept final {
    B& self = static_cast<B&>(*this);
    for (;;) {
      visitor.sample(head.data, head.size);
      ++delivered;
      self.B::pop();
      for (;;) {  // the next sample, passing loss reports on
        if (!self.B::peek(head)) return false;
        if (head.data != nullptr) break;
        if (head.lost > 0) visitor.lost(head.lost);
        self.B::pop();
      }
      next = ktime_of(head);
      if (next > limit) return true;
    }
  }
};

class OrderedReader {
 public:
  using Visitor = SampleVisitor;

  static constexpr uint64_t kNoHorizon = UINT64_MAX;

  explicit OrderedReader(std::vector<std::unique_ptr<CpuBuffer>> buffers);

  // Delivers every sample with ktime_ns <= horizon_ns in ktime order (ties: lower CPU first) and
  // every loss report met on the way; returns the number of samples delivered.
  size_t read(uint64_t horizon_ns, Visitor& visitor);

  // Whether every buffer is empty after the last read(), looking again at what the kernel
  // committed meanwhile. The reader may then sleep until a sample wakes it (a ring buffer wakes
  // its reader for a sample that lands in an emptied ring); otherwise samples past the horizon
  // wait, and it must come back for them. Call after read(), before sleeping.
  bool drained();

  size_t buffer_count() const { return buffers_.size(); }

 private:
  // Skips loss reports (delivering them) and returns the ktime of buffer i's next sample.
  bool next_time(size_t i, Visitor& visitor, uint64_t& ktime);

  std::vector<std::unique_ptr<CpuBuffer>> buffers_;
  std::vector<CpuBuffer::Record> heads_;             // the peeked record of each buffer
  std::vector<std::pair<uint64_t, uint32_t>> heap_;  // (ktime, buffer), min-heap
};

}  // namespace recorder::datapath
