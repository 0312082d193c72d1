#include "sink/encoding_queue.h"

#include <algorithm>
#include <cstring>

namespace recorder::sink {

EncodingQueue::EncodingQueue(FileFormat format, uint32_t snap_length, size_t capacity_bytes)
    : ring_(capacity_bytes),
      format_(format),
      snap_length_(snap_length),
      pcap_(snap_length),
      pcapng_(snap_length) {}

bool EncodingQueue::push_file_header() {
  uint8_t header[PcapngEncoder::kSectionHeaderSize];
  const size_t n =
      format_ == FileFormat::kPcap ? pcap_.file_header(header) : pcapng_.file_header(header);
  if (ring_.refresh_free() < n) return false;
  ring_.put(header, n);
  ring_.publish();
  return true;
}

AppendResult EncodingQueue::try_append(const CapturedPacket& packet) noexcept {
  if (failure_errno_.load(std::memory_order_relaxed) != 0) return AppendResult::kFailed;
  // The caller cuts to the snap length (sink.h); a longer packet is cut here too, because a
  // record longer than the file's snaplen makes readers reject the file. (Copied only then: the
  // packet was just written field by field, and a copy reads it back wider than it was written,
  // which stalls on store forwarding.)
  if (packet.data.size() > snap_length_) {
    CapturedPacket cut = packet;
    cut.data = cut.data.first(snap_length_);
    return append(cut);
  }
  return append(packet);
}

AppendResult EncodingQueue::append(const CapturedPacket& packet) noexcept {
  if (format_ == FileFormat::kPcap && packet.link_type != LinkType::kRaw) {
    // The common case, in place: the record header straight into the ring, then the packet.
    const auto cap_len = static_cast<uint32_t>(packet.data.size());
    const size_t total = PcapEncoder::kRecordHeaderSize + cap_len;
    if (!has_space(total)) return AppendResult::kQueueFull;
    if (uint8_t* out = ring_.contiguous_space(total)) {
      record_back_ = static_cast<uint32_t>(total);
      interface_block_back_ = 0;
      PcapEncoder::record_header(packet, cap_len, 0, out);
      if (cap_len > 0) {  // an empty span's data() may be null, which memcpy must not get
        std::memcpy(out + PcapEncoder::kRecordHeaderSize, packet.data.data(), cap_len);
      }
      ring_.advance(total);
      appended(packet);
      return AppendResult::kAppended;
    }
  }
  EncodedRecord record;
  if (format_ == FileFormat::kPcap) {
    pcap_.encode(packet, record);
  } else {
    pcapng_.encode(packet, record);
  }
  const size_t total = record.size();
  if (!has_space(total)) return AppendResult::kQueueFull;
  // A pcap record header starts the prefix; a pcapng EPB header ends it, after the interface
  // block of a new interface.
  record_back_ = static_cast<uint32_t>(total);
  interface_block_back_ = 0;
  if (format_ == FileFormat::kPcapng) {
    record_back_ =
        static_cast<uint32_t>(total - (record.prefix_len - PcapngEncoder::kEpbHeaderSize));
    if (record.new_interface_slot >= 0) interface_block_back_ = static_cast<uint32_t>(total);
  }
  if (uint8_t* out = ring_.contiguous_space(total)) {
    std::memcpy(out, record.prefix, record.prefix_len);
    out += record.prefix_len;
    if (!record.data.empty()) std::memcpy(out, record.data.data(), record.data.size());
    if (record.suffix_len > 0) {
      std::memcpy(out + record.data.size(), record.suffix, record.suffix_len);
    }
    ring_.advance(total);
  } else {
    // The record crosses the end of the ring.
    ring_.put(record.prefix, record.prefix_len);
    ring_.put(record.data.data(), record.data.size());
    ring_.put(record.suffix, record.suffix_len);
  }
  if (format_ == FileFormat::kPcapng) pcapng_.commit(record);
  appended(packet);
  return AppendResult::kAppended;
}

bool EncodingQueue::has_space(size_t total) noexcept {
  // known_free() is a lower bound of the free space (only the consumer adds space): asking the
  // ring, which reads the consumer's position from another core's cache, is needed only when
  // the bound is too small.
  if (ring_.known_free() >= total || ring_.refresh_free() >= total) return true;
  bump(queue_full_, 1);
  return false;
}

void EncodingQueue::appended(const CapturedPacket& packet) noexcept {
  ring_.publish();
  // Ask for the ring's next lines now: when many sinks take packets in turn, each ring's next
  // write would otherwise wait for its line to come from memory (too many streams for the
  // hardware prefetcher).
  ring_.prefetch_ahead();
  // capacity - known_free is an upper bound of the queued bytes: below the watermark (the common
  // case) this costs one compare, and above it the writer's state is looked at only once per
  // quarter watermark of new bytes, not per packet.
  if (ring_.capacity() - ring_.known_free() >= watermark_ &&
      ring_.producer_head() >= next_wake_check_) {
    wake_writer_if_high();
  }
  // Only the compiler may not move the load before the publish: the writer's membarrier orders
  // the CPUs (WriterWakeup).
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (wakeup_ != nullptr && wakeup_->idle.load(std::memory_order_relaxed)) wake_idle_writer();
  bump(appended_packets_, 1);
  bump(appended_bytes_, packet.data.size());
  if (packet.link_type == LinkType::kRaw) bump(appended_raw_, 1);
}

void EncodingQueue::wake_writer_if_high() noexcept {
  next_wake_check_ = ring_.producer_head() + watermark_ / 4;
  if (wakeup_ == nullptr || ring_.capacity() - ring_.refresh_free() < watermark_) return;
  // Pairs with the writer's fence between setting `sleeping` and re-checking the queues: either
  // it sees these bytes, or this load sees it sleeping.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (wakeup_->sleeping.load(std::memory_order_relaxed) &&
      wakeup_->sleeping.exchange(false, std::memory_order_acq_rel)) {
    wakeup_->wake();
  }
}

void EncodingQueue::wake_idle_writer() noexcept {
  // One producer claims it and makes the syscall.
  if (wakeup_->idle.exchange(false, std::memory_order_acq_rel)) wakeup_->wake();
}

size_t EncodingQueue::pop(uint8_t* out, size_t max) {
  const uint64_t tail = ring_.tail();
  size_t n = std::min<size_t>(max, ring_.head() - tail);
  for (size_t done = 0; done < n;) {
    const size_t piece = std::min(n - done, ring_.contiguous(tail + done));
    std::memcpy(out + done, ring_.at(tail + done), piece);
    done += piece;
  }
  ring_.release(tail + n);
  return n;
}

std::vector<uint8_t> EncodingQueue::trailer(uint64_t dropped_packets, uint64_t start_ns,
                                            uint64_t end_ns) {
  if (format_ == FileFormat::kPcap) return {};
  return pcapng_.trailer(dropped_packets, start_ns, end_ns);
}

}  // namespace recorder::sink
