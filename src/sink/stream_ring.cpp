#include "sink/stream_ring.h"

#include <sys/mman.h>

namespace recorder::sink {

StreamRing::StreamRing(size_t capacity) {
  const size_t bytes = capacity < kBlock ? kBlock : capacity / kBlock * kBlock;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) return;
  base_ = static_cast<uint8_t*>(p);
  capacity_ = bytes;
  known_free_ = bytes;
}

StreamRing::~StreamRing() {
  if (base_ != nullptr) ::munmap(base_, capacity_);
}

}  // namespace recorder::sink
