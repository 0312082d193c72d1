#include "dispatch/memory_source.h"

#include <fmt/format.h>

#include <algorithm>

namespace recorder {

MemorySource::MemorySource(std::vector<MemoryPacket> packets, Options options)
    : packets_(std::move(packets)), options_(options) {
  if (options_.batch_packets == 0) options_.batch_packets = 1;
}

std::string MemorySource::describe() const {
  return fmt::format("memory source of {} packets x {} rounds", packets_.size(), options_.rounds);
}

Status MemorySource::run(PacketConsumer& consumer, const std::atomic<bool>& stop) {
  if (packets_.empty()) return ok_status();
  uint64_t first = packets_.front().timestamp_ns;
  uint64_t last = first;
  for (const auto& p : packets_) {
    first = std::min(first, p.timestamp_ns);
    last = std::max(last, p.timestamp_ns);
  }
  const uint64_t round_span = last - first + 1;
  unsigned in_batch = 0;
  uint64_t fed = 0;
  for (uint64_t round = 0; round < options_.rounds; ++round) {
    for (const MemoryPacket& p : packets_) {
      if (in_batch == 0 && stop.load(std::memory_order_relaxed)) {
        packets_fed_.store(fed, std::memory_order_relaxed);
        return ok_status();
      }
      CapturedPacket packet;
      packet.timestamp_ns = p.timestamp_ns + round * round_span;
      packet.ifindex = p.ifindex;
      packet.original_length =
          p.original_length != 0 ? p.original_length : static_cast<uint32_t>(p.bytes.size());
      packet.direction = p.direction;
      packet.link_type = p.link_type;
      packet.data = p.bytes;
      packet.kernel_rules = p.kernel_rules ? &*p.kernel_rules : nullptr;
      packet.rule_generation = p.rule_generation;
      consumer.on_packet(packet);
      ++fed;
      if (++in_batch == options_.batch_packets) {
        consumer.on_batch_end();
        in_batch = 0;
        packets_fed_.store(fed, std::memory_order_relaxed);
      }
    }
  }
  if (in_batch != 0) consumer.on_batch_end();
  packets_fed_.store(fed, std::memory_order_relaxed);
  return ok_status();
}

}  // namespace recorder
