#include "ring/rotating_sink.h"

namespace recorder::ring {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

void bump(std::atomic<uint64_t>& counter, uint64_t by) noexcept {
  counter.store(counter.load(kRelaxed) + by, kRelaxed);
}

// What one record adds to the file besides the packet's bytes (a pcap record header; a pcapng
// EPB adds a little more: the size is a bound to rotate at, not an exact one).
constexpr uint64_t kRecordOverhead = 16;

}  // namespace

RotatingSink::~RotatingSink() {
  for (auto& chunk : take_remaining()) chunk.reset();
}

bool RotatingSink::full(const Chunk& chunk, const CapturedPacket& packet) const noexcept {
  if (chunk.packets.load(kRelaxed) == 0) return false;
  if (chunk.bytes.load(kRelaxed) >= limits_.chunk_bytes) return true;
  return limits_.chunk_duration_ns != 0 &&
         packet.timestamp_ns >= chunk.first_ns.load(kRelaxed) + limits_.chunk_duration_ns;
}

sink::AppendResult RotatingSink::try_append(const CapturedPacket& packet) noexcept {
  Chunk* chunk = producer_chunk_;
  if (chunk == nullptr || chunk == failed_chunk_.load(kRelaxed) || full(*chunk, packet)) {
    Chunk* a = next_[0].load(std::memory_order_acquire);
    Chunk* b = next_[1].load(std::memory_order_acquire);
    const int slot = a == nullptr ? 1 : (b == nullptr || a->seq < b->seq) ? 0 : 1;
    Chunk* next = slot == 0 ? a : b;
    // Rotate only when a next chunk is ready and the previous retired one was taken.
    if (next != nullptr &&
        (chunk == nullptr || retired_.load(std::memory_order_acquire) == nullptr)) {
      next_[slot].store(nullptr, std::memory_order_release);
      if (chunk != nullptr) retired_.store(chunk, std::memory_order_release);
      current_.store(next, std::memory_order_release);
      producer_chunk_ = chunk = next;
      limits_.wake();
    }
  }
  if (chunk == nullptr) return sink::AppendResult::kQueueFull;  // no chunk open yet
  const sink::AppendResult result = chunk->sink->try_append(packet);
  if (result == sink::AppendResult::kAppended) {
    if (chunk->packets.load(kRelaxed) == 0) chunk->first_ns.store(packet.timestamp_ns, kRelaxed);
    chunk->last_ns.store(packet.timestamp_ns, kRelaxed);
    bump(chunk->packets, 1);
    bump(chunk->bytes, packet.data.size() + kRecordOverhead);
  } else if (result == sink::AppendResult::kFailed) {
    failed_chunk_.store(chunk, kRelaxed);
  }
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

std::vector<std::unique_ptr<Chunk>> RotatingSink::take_remaining() {
  std::vector<std::unique_ptr<Chunk>> out;
  for (auto* slot : {&retired_, &current_, &next_[0], &next_[1]}) {
    if (Chunk* chunk = slot->exchange(nullptr, std::memory_order_acq_rel)) out.emplace_back(chunk);
  }
  producer_chunk_ = nullptr;
  return out;
}

}  // namespace recorder::ring
