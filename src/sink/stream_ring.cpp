#include "sink/stream_ring.h"

#include <sys/mman.h>

#include <mutex>
#include <utility>
#include <vector>

namespace recorder::sink {
namespace {

// Memory of closed rings, still mapped and populated, for the next ring of the same size.
class SpareMemory {
 public:
  static constexpr size_t kMaxBytes = 64u << 20;

  void* take(size_t bytes) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < spare_.size(); ++i) {
      if (spare_[i].second != bytes) continue;
      void* p = spare_[i].first;
      spare_[i] = spare_.back();
      spare_.pop_back();
      held_ -= bytes;
      return p;
    }
    return nullptr;
  }
  bool give(void* p, size_t bytes) {
    std::lock_guard lock(mutex_);
    if (held_ + bytes > kMaxBytes) return false;
    spare_.emplace_back(p, bytes);
    held_ += bytes;
    return true;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<void*, size_t>> spare_;
  size_t held_ = 0;
};

SpareMemory& spare_memory() {
  static auto* spare = new SpareMemory;  // never destroyed: rings may close at exit
  return *spare;
}

}  // namespace

StreamRing::StreamRing(size_t capacity) {
  const size_t bytes = capacity < kBlock ? kBlock : capacity / kBlock * kBlock;
  void* p = spare_memory().take(bytes);
  if (p == nullptr) {
    p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
               -1, 0);
    if (p == MAP_FAILED) return;
  }
  base_ = static_cast<uint8_t*>(p);
  capacity_ = bytes;
  known_free_ = bytes;
}

StreamRing::~StreamRing() {
  if (base_ != nullptr && !spare_memory().give(base_, capacity_)) ::munmap(base_, capacity_);
}

}  // namespace recorder::sink
