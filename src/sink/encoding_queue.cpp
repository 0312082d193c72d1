#include "sink/encoding_queue.h"

#include <cstring>

namespace recorder::sink {

EncodingQueue::EncodingQueue(FileFormat format, uint32_t snap_length, size_t capacity_bytes)
    : format_(format),
      snap_length_(snap_length),
      capacity_(capacity_bytes),
      pcap_(snap_length),
      pcapng_(snap_length),
      queue_(capacity_bytes) {}

bool EncodingQueue::push_file_header() {
  uint8_t header[PcapngEncoder::kSectionHeaderSize];
  const size_t n =
      format_ == FileFormat::kPcap ? pcap_.file_header(header) : pcapng_.file_header(header);
  if (queue_.write_available() < n) return false;
  queue_.push(header, n);
  bump(stream_bytes_, n);
  return true;
}

AppendResult EncodingQueue::try_append(const CapturedPacket& in) noexcept {
  // The caller cuts to the snap length (sink.h); a longer packet is cut here too, because a
  // record longer than the file's snaplen makes readers reject the file.
  CapturedPacket packet = in;
  if (packet.data.size() > snap_length_) packet.data = packet.data.first(snap_length_);
  EncodedRecord record;
  if (format_ == FileFormat::kPcap) {
    pcap_.encode(packet, record);
  } else {
    pcapng_.encode(packet, record);
  }
  const size_t total = record.size();
  // known_free_ is a lower bound of the free space (only the consumer adds space): asking the
  // queue, which reads the consumer's index from another core's cache, is needed only when
  // the bound is too small.
  if (known_free_ < total) {
    known_free_ = queue_.write_available();
    if (known_free_ < total) {
      bump(queue_full_, 1);
      return AppendResult::kQueueFull;
    }
  }
  known_free_ -= total;
  if (total <= kStageBytes) {
    // Small record: one push (one index handshake with the consumer) from a stack copy beats
    // three pushes.
    uint8_t stage[kStageBytes];
    std::memcpy(stage, record.prefix, record.prefix_len);
    size_t n = record.prefix_len;
    if (!record.data.empty()) std::memcpy(stage + n, record.data.data(), record.data.size());
    n += record.data.size();
    std::memcpy(stage + n, record.suffix, record.suffix_len);
    queue_.push(stage, total);
  } else {
    // Up to three pushes; each publishes its bytes, but the writer treats the queue as a byte
    // stream and the whole record is guaranteed to follow (space was checked above).
    queue_.push(record.prefix, record.prefix_len);
    queue_.push(record.data.data(), record.data.size());
    if (record.suffix_len > 0) queue_.push(record.suffix, record.suffix_len);
  }
  if (format_ == FileFormat::kPcapng) pcapng_.commit(record);
  // capacity_ - known_free_ is an upper bound of the queued bytes: below the watermark (the
  // common case) this costs one compare.
  if (capacity_ - known_free_ >= watermark_) wake_writer_if_high();
  bump(appended_packets_, 1);
  bump(appended_bytes_, packet.data.size());
  if (packet.link_type == LinkType::kRaw) bump(appended_raw_, 1);
  bump(stream_bytes_, total);
  return AppendResult::kAppended;
}

void EncodingQueue::wake_writer_if_high() noexcept {
  known_free_ = queue_.write_available();
  if (wakeup_ == nullptr || capacity_ - known_free_ < watermark_) return;
  // Pairs with the writer's fence between setting `sleeping` and re-checking the queues: either
  // it sees these bytes, or this load sees it sleeping.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (wakeup_->sleeping.load(std::memory_order_relaxed) &&
      wakeup_->sleeping.exchange(false, std::memory_order_acq_rel)) {
    wakeup_->wake();
  }
}

std::vector<uint8_t> EncodingQueue::trailer(uint64_t dropped_packets, uint64_t start_ns,
                                            uint64_t end_ns) {
  if (format_ == FileFormat::kPcap) return {};
  return pcapng_.trailer(dropped_packets, start_ns, end_ns);
}

}  // namespace recorder::sink
