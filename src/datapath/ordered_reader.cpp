#include "datapath/ordered_reader.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace recorder::datapath {
namespace {

// std heap functions build a max-heap; "later" makes it a min-heap on (ktime, buffer).
constexpr auto kLater = [](const std::pair<uint64_t, uint32_t>& a,
                           const std::pair<uint64_t, uint32_t>& b) { return a > b; };

}  // namespace

OrderedReader::OrderedReader(std::vector<std::unique_ptr<CpuBuffer>> buffers)
    : buffers_(std::move(buffers)), heads_(buffers_.size()) {
  heap_.reserve(buffers_.size());
}

bool OrderedReader::next_time(size_t i, Visitor& visitor, uint64_t& ktime) {
  CpuBuffer::Record& r = heads_[i];
  for (;;) {
    if (!buffers_[i]->peek(r)) return false;
    if (r.data != nullptr) break;
    if (r.lost > 0) visitor.lost(r.lost);
    buffers_[i]->pop();
  }
  ktime = CpuBuffer::ktime_of(r);
  return true;
}

size_t OrderedReader::read(uint64_t horizon_ns, Visitor& visitor) {
  heap_.clear();
  for (size_t i = 0; i < buffers_.size(); ++i) {
    buffers_[i]->refresh();
    uint64_t t = 0;
    if (next_time(i, visitor, t) && t <= horizon_ns)
      heap_.emplace_back(t, static_cast<uint32_t>(i));
  }
  std::make_heap(heap_.begin(), heap_.end(), kLater);
  size_t delivered = 0;
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), kLater);
    const uint32_t i = heap_.back().second;
    heap_.pop_back();
    // Take a run from this buffer while it stays the earliest.
    const uint64_t limit = heap_.empty() ? horizon_ns : std::min(horizon_ns, heap_.front().first);
    uint64_t t = 0;
    if (buffers_[i]->run(heads_[i], limit, visitor, t, delivered) && t <= horizon_ns) {
      heap_.emplace_back(t, i);
      std::push_heap(heap_.begin(), heap_.end(), kLater);
    }
  }
  for (auto& b : buffers_) b->commit();
  return delivered;
}

bool OrderedReader::drained() {
  // The commits above must be visible before the positions are read again: the kernel wakes
  // the reader when it writes a record at the consumer position it sees, so either it sees our
  // last commit (and wakes us) or we see its record here.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (auto& b : buffers_) {
    if (!b->empty()) return false;
  }
  return true;
}

}  // namespace recorder::datapath
