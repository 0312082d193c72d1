// StreamRing: a sink's bounded single-producer single-consumer byte ring, addressed by stream
// position. The stream is the file: position p is file offset p (the file header is the first
// thing pushed), so the writer thread writes straight from ring memory to the file and the
// producer's copy of a packet into the ring is the only copy on the way to disk.
//
// Why not Boost.Lockfree's spsc_queue (used before): it copies in and out (push/pop), so records
// were staged on the producer's stack and copied again by the writer into aligned buffers, three
// copies in all; it has no reserve/commit and no way to hand out its memory for a direct write.
//
// Memory: mmap'd and populated when the sink opens (the producer never page-faults on the hot
// path), capacity a whole number of 4 KiB blocks, so the ring address of any 4 KiB-aligned
// position is 4 KiB-aligned, as O_DIRECT wants. A closed ring's memory stays mapped and
// populated for the next ring of the same size (at most 64 MiB kept): a flight recorder opens a
// sink per chunk, and populating 16 MiB per chunk cost more than its index. A write that crosses
// the end of the ring is split in two at the end.
//
// Producer: put()/append() write past the published head, publish() makes them visible (release).
// Consumer: head() (acquire), at()/contiguous() to read, release() to give space back once the
// file holds the bytes. The producer caches the consumer's position, so a steady stream reads the
// other core's cache line only when its bound of the free space runs out.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace recorder::sink {

class StreamRing {
 public:
  static constexpr size_t kBlock = 4096;

  // Rounds capacity down to whole blocks (at least one). ok() is false when the memory could not
  // be mapped.
  explicit StreamRing(size_t capacity);
  ~StreamRing();
  StreamRing(const StreamRing&) = delete;
  StreamRing& operator=(const StreamRing&) = delete;

  bool ok() const { return base_ != nullptr; }
  size_t capacity() const { return capacity_; }

  // Producer side.
  // A lower bound of the free space (exact right after refresh_free()).
  size_t known_free() const { return known_free_; }
  size_t refresh_free() {
    known_free_ = capacity_ - static_cast<size_t>(head_ - tail_.load(std::memory_order_acquire));
    return known_free_;
  }
  // Where the next `n` bytes go when they do not cross the end of the ring, else nullptr.
  uint8_t* contiguous_space(size_t n) { return index_ + n <= capacity_ ? base_ + index_ : nullptr; }
  // Claims n bytes written through contiguous_space() (n <= known_free()).
  void advance(size_t n) {
    head_ += n;
    index_ += n;
    if (index_ == capacity_) index_ = 0;
    known_free_ -= n;
  }
  // Copies n bytes (n <= known_free()) at the head, across the end of the ring if needed.
  void put(const void* data, size_t n) {
    const size_t first = n < capacity_ - index_ ? n : capacity_ - index_;
    std::memcpy(base_ + index_, data, first);
    if (first < n) std::memcpy(base_, static_cast<const uint8_t*>(data) + first, n - first);
    head_ += n;
    index_ = (index_ + n) % capacity_;
    known_free_ -= n;
  }
  // Makes everything put so far visible to the consumer.
  void publish() { published_.store(head_, std::memory_order_release); }
  uint64_t producer_head() const { return head_; }
  // Starts fetching (for writing) the cache lines the next records will go to.
  void prefetch_ahead() const {
    const uint8_t* p = base_ + index_;
    __builtin_prefetch(p, 1, 3);
    __builtin_prefetch(p + 64, 1, 3);
    __builtin_prefetch(p + 128, 1, 3);
  }

  // Consumer side.
  uint64_t head() const { return published_.load(std::memory_order_acquire); }
  uint64_t tail() const { return tail_.load(std::memory_order_relaxed); }
  const uint8_t* at(uint64_t position) const { return base_ + position % capacity_; }
  // Bytes readable at `position` without crossing the end of the ring.
  size_t contiguous(uint64_t position) const { return capacity_ - position % capacity_; }
  // The bytes before `position` are no longer needed (position never goes back).
  void release(uint64_t position) { tail_.store(position, std::memory_order_release); }

 private:
  // The producer's line: everything an append touches. published_ is read by the consumer, but
  // only once per writer round (thousands of records), so sharing the line costs less than the
  // extra line per append would with many rings.
  alignas(64) uint8_t* base_ = nullptr;
  size_t capacity_ = 0;
  uint64_t head_ = 0;      // producer only
  size_t index_ = 0;       // producer only: head_ % capacity_
  size_t known_free_ = 0;  // producer only
  std::atomic<uint64_t> published_{0};
  // Written by the consumer, read by the producer only when its bound of the free space runs out.
  alignas(64) std::atomic<uint64_t> tail_{0};
};

}  // namespace recorder::sink
