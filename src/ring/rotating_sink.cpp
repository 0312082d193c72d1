#include "ring/rotating_sink.h"

#include <algorithm>

#include "dispatch/packet_info.h"
#include "sink/encoded_record.h"

namespace recorder::ring {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// The most one record adds to the file besides the packet's bytes (a pcapng EPB with its options
// after a new interface's block; a pcap record header and a synthesized Ethernet header).
constexpr uint64_t kRecordOverhead =
    sink::EncodedRecord::kMaxPrefix + sink::EncodedRecord::kMaxSuffix;
// The most a packet adds to a chunk and its index besides its own bytes.
constexpr uint64_t kLeastGrowth = kRecordOverhead + ChunkIndexBuilder::kMaxBytesPerPacket;

// Files take whole blocks on disk (4 KiB on the filesystems a ring lives on; a larger block
// size would make the bound loose, not wrong, only for chunks of few blocks).
constexpr uint64_t kDiskBlock = 4096;
uint64_t blocks(uint64_t bytes) { return (bytes + kDiskBlock - 1) / kDiskBlock * kDiskBlock; }

}  // namespace

RotatingSink::~RotatingSink() {
  for (auto& chunk : take_remaining()) chunk.reset();
}

bool RotatingSink::over_size(const Chunk& chunk, const CapturedPacket& packet) noexcept {
  if (chunk.packets() == 0) return false;
  if (chunk.index.full()) return true;
  // Far from the size, no need to look: each packet adds at most its record and
  // ChunkIndexBuilder::kMaxBytesPerPacket to what the sum below counts.
  const uint64_t growth = packet.data.size() + kLeastGrowth;
  if (growth <= unchecked_room_) {
    unchecked_room_ -= growth;
    return false;
  }
  // On disk, whole blocks: the chunk file, its index, and the first block of the chunk after it
  // (opened ahead, holding its file header).
  const uint64_t file =
      chunk.bytes() + packet.data.size() + kRecordOverhead + limits_.trailer_bytes;
  const uint64_t index = chunk.index.size_bound() + ChunkIndexBuilder::kMaxBytesPerPacket;
  const uint64_t used = blocks(file) + blocks(index) + kDiskBlock;
  if (used > limits_.chunk_bytes) return true;
  // What the next packets may add before the sum can pass the size: rounding to blocks adds at
  // most a block to each of the two sizes, pcapng interface blocks noted add to the index
  // (ChunkIndexBuilder::kInterfaceBlocksBound), and the rest is their growth as above.
  const uint64_t margin = 2 * kDiskBlock + ChunkIndexBuilder::kInterfaceBlocksBound;
  unchecked_room_ = limits_.chunk_bytes - used > margin ? limits_.chunk_bytes - used - margin : 0;
  // And no more packets than the index has room for after this one: each takes at least
  // kLeastGrowth of the room, so the packet that would fill it past its capacity comes here
  // (full(), above) first.
  const uint64_t index_room = chunk.index.capacity() - chunk.index.packets() - 1;
  unchecked_room_ = std::min(unchecked_room_, index_room * kLeastGrowth);
  return false;
}

int RotatingSink::next_slot() noexcept {
  int slot = -1;
  for (int i = 0; i < 2; ++i) {
    Chunk* chunk = next_[i].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    if (chunk->sink->failed()) {
      // Only the producer empties a slot, so the chunk is still there to move.
      if (discarded_.load(std::memory_order_acquire) == nullptr) {
        next_[i].store(nullptr, std::memory_order_release);
        discarded_.store(chunk, std::memory_order_release);
        limits_.wake();  // the control side closes it and opens another
      }
      continue;
    }
    if (slot < 0 || chunk->seq < next_[slot].load(kRelaxed)->seq) slot = i;
  }
  return slot;
}

Chunk* RotatingSink::rotate(Chunk* chunk, const CapturedPacket& packet) noexcept {
  const bool due = chunk == nullptr || chunk == failed_chunk_.load(kRelaxed) ||
                   over_size(*chunk, packet) || packet.timestamp_ns >= old_at_ns_;
  if (!due) return chunk;
  const int slot = next_slot();
  // Rotate only when a next chunk is ready and the previous retired one was taken.
  if (slot < 0 || (chunk != nullptr && retired_.load(std::memory_order_acquire) != nullptr)) {
    return chunk;
  }
  Chunk* next = next_[slot].load(kRelaxed);
  next_[slot].store(nullptr, std::memory_order_release);
  if (chunk != nullptr) retired_.store(chunk, std::memory_order_release);
  current_.store(next, std::memory_order_release);
  producer_chunk_ = next;
  producer_queue_ = queue_of(next);
  unchecked_room_ = 0;
  old_at_ns_ = UINT64_MAX;
  limits_.wake();
  return next;
}

sink::AppendResult RotatingSink::try_append(const CapturedPacket& packet) noexcept {
  Chunk* chunk = producer_chunk_;
  // Nearly every packet: two compares. The rest (no chunk yet, a chunk's first packets, one
  // near its size or its index's capacity, old, or failed) go through rotate().
  const uint64_t growth = packet.data.size() + kLeastGrowth;
  const bool looked = growth > unchecked_room_ || packet.timestamp_ns >= old_at_ns_;
  if (looked) {
    chunk = rotate(chunk, packet);
    if (chunk == nullptr) return sink::AppendResult::kQueueFull;  // no chunk open yet
  } else {
    unchecked_room_ -= growth;
  }
  sink::EncodingQueue& queue = *producer_queue_;
  const sink::AppendResult result = queue.try_append(packet);
  if (result != sink::AppendResult::kAppended) {
    if (result == sink::AppendResult::kFailed) {
      failed_chunk_.store(chunk, kRelaxed);
      unchecked_room_ = 0;  // the next packet goes through rotate()
    }
    return result;
  }
  const sink::RecordPlacement at = queue.last_placement();
  if (at.interface_block != sink::RecordPlacement::kNone) {
    chunk->index.note_interface_block(at.interface_block);
  }
  if (packet.decoded != nullptr) {  // dispatch decoded it already
    chunk->index.add(at.offset, packet.timestamp_ns, *packet.decoded);
  } else {
    chunk->index.add(at.offset, packet.timestamp_ns, packet.data, packet.link_type);
  }
  // The chunk's packets and bytes are its queue's counts. Its first packet came through
  // rotate() (a new chunk has no room unchecked).
  if (looked && chunk->first_ns.load(kRelaxed) == 0) {
    chunk->first_ns.store(packet.timestamp_ns, kRelaxed);
    if (limits_.chunk_duration_ns != 0)
      old_at_ns_ = packet.timestamp_ns + limits_.chunk_duration_ns;
  }
  chunk->last_ns.store(packet.timestamp_ns, kRelaxed);
  return result;
}

Result<sink::SinkResult> RotatingSink::close(uint64_t) { return sink::SinkResult{}; }

void RotatingSink::provide_next(std::unique_ptr<Chunk> chunk) {
  for (auto& slot : next_) {
    Chunk* expected = nullptr;
    if (slot.compare_exchange_strong(expected, chunk.get(), std::memory_order_acq_rel)) {
      (void)chunk.release();
      return;
    }
  }
}

std::unique_ptr<Chunk> RotatingSink::take_retired() {
  return std::unique_ptr<Chunk>(retired_.exchange(nullptr, std::memory_order_acq_rel));
}

std::unique_ptr<Chunk> RotatingSink::take_discarded() {
  return std::unique_ptr<Chunk>(discarded_.exchange(nullptr, std::memory_order_acq_rel));
}

std::vector<std::unique_ptr<Chunk>> RotatingSink::take_remaining() {
  std::vector<std::unique_ptr<Chunk>> out;
  for (auto* slot : {&retired_, &current_, &next_[0], &next_[1], &discarded_}) {
    if (Chunk* chunk = slot->exchange(nullptr, std::memory_order_acq_rel)) out.emplace_back(chunk);
  }
  producer_chunk_ = nullptr;
  producer_queue_ = nullptr;
  unchecked_room_ = 0;
  old_at_ns_ = UINT64_MAX;
  return out;
}

}  // namespace recorder::ring
