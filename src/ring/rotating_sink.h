// RotatingSink: the Sink of a ring's Recording. It writes into one chunk file at a time and moves
// on to the next when the chunk is full (bytes) or old enough (the time between its first packet
// and the packet at hand), so a ring reuses the recording's hot path (dispatch -> Recording ->
// Sink) and the writer pool unchanged.
//
// Rotation never waits: the control side (the ring's maintenance) opens the next chunk ahead and
// hands it over through `next`; the producer switches to it with two atomic stores and leaves
// the full chunk in `retired`, which the control side takes, closes (a complete, valid file) and
// indexes. When no next chunk is ready, or the previous one has not been taken yet, the producer
// keeps writing the current chunk: a chunk may grow past its size, a packet is never held up.
// A chunk whose write failed (disk full) is rotated away at the next packet.
//
// Ownership: the RotatingSink owns every Chunk it holds (current, next, retired); take_retired()
// and take_remaining() give them to the caller. Threads: try_append() is the producer's; the
// other methods are the control side's, called by one thread at a time (the ring's lock). A
// Chunk the producer may still write (current()) is only destroyed after the control side took
// it back, so the control side may read its counters while it holds its lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sink/sink.h"

namespace recorder::ring {

// One chunk file while it is written, and what the producer put into it.
struct Chunk {
  uint64_t seq = 0;
  std::string file_name;  // final name in the ring's directory
  std::unique_ptr<sink::Sink> sink;
  // Written by the producer (relaxed), read by the control side.
  std::atomic<uint64_t> first_ns{0};  // timestamp of the first packet (0: none yet)
  std::atomic<uint64_t> last_ns{0};
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};  // file bytes of its records (an estimate for pcapng)
};

// Wakes the ring's maintenance so it takes a full chunk and opens the next at once (one futex
// wake per rotation, from the hot path; a plain function pointer, so no allocation).
struct RotationWake {
  void (*function)(void* context) = nullptr;
  void* context = nullptr;
  void operator()() const noexcept {
    if (function != nullptr) function(context);
  }
};

struct RotationLimits {
  RotationWake wake;
  uint64_t chunk_bytes = 256u << 20;  // rotate once a chunk holds this many bytes
  uint64_t chunk_duration_ns = 0;     // and once its packets span this long (0: no limit)
};

class RotatingSink final : public sink::Sink {
 public:
  explicit RotatingSink(RotationLimits limits) : limits_(limits) {}
  ~RotatingSink() override;

  sink::AppendResult try_append(const CapturedPacket& packet) noexcept override;
  // A ring does not stop on a failed chunk: it rotates to the next.
  bool failed() const noexcept override { return false; }
  int failure_errno() const noexcept override { return 0; }
  // Zero: a chunk may be closed at any time by the control side, so its progress is not read
  // from other threads; the ring reports its chunks itself (Ring::status()).
  sink::SinkProgress progress() const noexcept override { return {}; }
  // Nothing to do: the ring closes its chunks itself (take_remaining()).
  Result<sink::SinkResult> close(uint64_t dropped_packets) override;

  // Control side.
  // Up to two chunks wait opened ahead, so rotations in quick succession (a burst over small
  // chunks) never find none ready while the next is being opened.
  bool wants_next() const {
    return next_[0].load(std::memory_order_acquire) == nullptr ||
           next_[1].load(std::memory_order_acquire) == nullptr;
  }
  void provide_next(std::unique_ptr<Chunk> chunk);
  std::unique_ptr<Chunk> take_retired();
  const Chunk* current() const { return current_.load(std::memory_order_acquire); }
  const Chunk* retired() const { return retired_.load(std::memory_order_acquire); }
  // Once the producer has stopped for good: the retired, current and next chunks (those held),
  // in that order.
  std::vector<std::unique_ptr<Chunk>> take_remaining();

 private:
  bool full(const Chunk& chunk, const CapturedPacket& packet) const noexcept;

  const RotationLimits limits_;
  Chunk* producer_chunk_ = nullptr;  // the producer's view of current_
  std::atomic<Chunk*> current_{nullptr};
  std::atomic<Chunk*> next_[2] = {nullptr, nullptr};  // the lower seq is taken first
  std::atomic<Chunk*> retired_{nullptr};
  std::atomic<Chunk*> failed_chunk_{nullptr};  // producer only: the chunk whose write failed
};

}  // namespace recorder::ring
