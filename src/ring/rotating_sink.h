// RotatingSink: the Sink of a ring's Recording. It writes into one chunk file at a time and moves
// on to the next when the chunk is full (bytes) or old enough (the time between its first packet
// and the packet at hand), so a ring reuses the recording's hot path (dispatch -> Recording ->
// Sink) and the writer pool unchanged.
//
// Rotation never waits: the control side (the ring's maintenance) opens the next chunk ahead and
// hands it over through `next` (a ring opens its first chunk and the two ahead of it when it
// starts, so the first packets do not wait for chunks to be opened either); the producer switches
// to it with two atomic stores and leaves the full chunk in `retired`, which the control side
// takes, closes (a complete, valid file) and writes the index of. The producer indexes each packet
// as it appends it (the chunk's ChunkIndexBuilder: the packet's decoded fields and its record's
// offset in the file).
//
// A chunk is full when its next record could take the chunk file plus the largest index it
// could then need past the chunk size (the file's exact length, the record's largest encoding,
// the pcapng trailer and the index's bound, in whole 4 KiB blocks, plus the block of the chunk
// opened after it), or when its index table is full: on disk a chunk and its index never exceed
// the chunk size (a chunk's first packet is always taken).
// When the chunk is full and no next chunk is ready (the control side has not made room yet, or
// has not taken the previous full one), the producer keeps writing the current chunk: capture
// never waits and never drops for a rotation, and a chunk grows past its size only while the
// control side is late (packets delivered in a burst faster than it hands chunks over). A chunk
// that is only old enough (chunk_duration) is written on until the next is ready too. A chunk whose
// write failed (disk full) is rotated away at the next packet. A chunk ahead whose sink failed
// before it took a packet (its file header refused: the disk at its free-space floor while it
// waited) is never rotated into: the producer skips it and hands it back through `discarded`, so
// the control side closes it and opens another once it has made room, and no packet is lost to a
// chunk that was dead before it was written.
//
// Ownership: the RotatingSink owns every Chunk it holds (current, next, retired, discarded);
// take_retired(), take_discarded() and take_remaining() give them to the caller. Threads:
// try_append() is the producer's; the other methods are the control side's, called by one thread at
// a time (the ring's lock). A Chunk the producer may still write (current()) is only destroyed
// after the control side took it back, so the control side may read its counters while it holds its
// lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ring/chunk_index.h"
#include "sink/encoding_queue.h"
#include "sink/sink.h"

namespace recorder::ring {

// One chunk file while it is written, and what the producer put into it.
struct Chunk {
  uint64_t seq = 0;
  std::string file_name;             // final name in the ring's directory
  std::unique_ptr<sink::Sink> sink;  // a writer pool's (Sink::open()): it has a direct_queue()
  // Written by the producer (relaxed), read by the control side.
  std::atomic<uint64_t> first_ns{0};  // timestamp of the first packet (0: none yet)
  std::atomic<uint64_t> last_ns{0};
  // Counted by the sink's queue as the producer appends (any thread may read them).
  uint64_t packets() const { return sink->direct_queue()->appended_packets(); }
  uint64_t bytes() const {  // the file's length so far (its header included)
    return sink->direct_queue()->stream_bytes();
  }
  // The chunk's index as it is written: the producer's while the chunk is current, the control
  // side's once it took the chunk back.
  ChunkIndexBuilder index;
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
  uint64_t trailer_bytes = 0;         // the most a chunk's close appends (pcapng statistics)
};

class RotatingSink final : public sink::Sink {
 public:
  // `first`: the chunk the first packet goes to (none: the first provide_next()'s, taken with a
  // rotation at the first packet).
  explicit RotatingSink(RotationLimits limits, std::unique_ptr<Chunk> first = nullptr)
      : limits_(limits),
        producer_chunk_(first.get()),
        producer_queue_(queue_of(first.get())),
        current_(first.release()) {}
  ~RotatingSink() override;

  sink::AppendResult try_append(const CapturedPacket& packet) noexcept override;
  sink::RecordPlacement last_placement() const noexcept override {
    return producer_queue_ != nullptr ? producer_queue_->last_placement() : sink::RecordPlacement{};
  }
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
  // Chunks handed over and not yet written (0 to 2).
  uint64_t chunks_ahead() const {
    return (next_[0].load(std::memory_order_acquire) != nullptr ? 1 : 0) +
           (next_[1].load(std::memory_order_acquire) != nullptr ? 1 : 0);
  }
  void provide_next(std::unique_ptr<Chunk> chunk);
  std::unique_ptr<Chunk> take_retired();
  // A chunk handed over whose sink failed before it took a packet, which the producer skipped.
  std::unique_ptr<Chunk> take_discarded();
  const Chunk* current() const { return current_.load(std::memory_order_acquire); }
  const Chunk* retired() const { return retired_.load(std::memory_order_acquire); }
  // Once the producer has stopped for good: the retired, current, next and discarded chunks
  // (those held), in that order.
  std::vector<std::unique_ptr<Chunk>> take_remaining();

 private:
  static sink::EncodingQueue* queue_of(Chunk* chunk) noexcept {
    return chunk != nullptr ? chunk->sink->direct_queue() : nullptr;
  }
  // Rotates to the next chunk when one is ready and the current one is due (failed, full, old);
  // returns the chunk the packet goes to (nullptr: none open yet). A chunk's first packet, and
  // every packet after a failed append, comes through here.
  Chunk* rotate(Chunk* chunk, const CapturedPacket& packet) noexcept;
  // Sums the chunk's sizes: whether the packet would take it past the chunk size.
  bool over_size(const Chunk& chunk, const CapturedPacket& packet) noexcept;
  // Producer: the slot of the chunk to rotate into (the lower seq of the healthy ones handed
  // over), or -1; a failed one is moved to `discarded_` when that is free.
  int next_slot() noexcept;

  const RotationLimits limits_;
  Chunk* producer_chunk_ = nullptr;  // the producer's view of current_
  // producer_chunk_'s sink's queue (Sink::direct_queue()), appended to without the sink's
  // virtual calls.
  sink::EncodingQueue* producer_queue_ = nullptr;
  std::atomic<Chunk*> current_{nullptr};
  std::atomic<Chunk*> next_[2] = {nullptr, nullptr};  // the lower seq is taken first
  std::atomic<Chunk*> retired_{nullptr};
  std::atomic<Chunk*> discarded_{nullptr};
  std::atomic<Chunk*> failed_chunk_{nullptr};  // producer only: the chunk whose write failed
  // Producer only: how much more the current chunk may grow (by over_size()'s bound per packet)
  // before over_size() must sum its sizes again (0: the next packet goes through rotate()), and
  // when its packets make it old (chunk_duration after its first; UINT64_MAX: no limit, or no
  // packet yet).
  uint64_t unchecked_room_ = 0;
  uint64_t old_at_ns_ = UINT64_MAX;
};

}  // namespace recorder::ring
