// MemorySource: a PacketSource that feeds packets held in memory, in order, a given number of
// rounds. For unit tests and the pipeline benchmark: no file, no kernel, deterministic input.
//
// The source owns the packets; each CapturedPacket it passes borrows them for the duration of
// on_packet(). Timestamps advance by one round's span each round so a looped capture stays
// monotonic.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dispatch/packet.h"
#include "dispatch/source.h"

namespace recorder {

struct MemoryPacket {
  std::vector<uint8_t> bytes;
  uint64_t timestamp_ns = 0;
  uint32_t original_length = 0;  // 0: bytes.size()
  uint32_t ifindex = 0;
  Direction direction = Direction::kUnknown;
  LinkType link_type = LinkType::kEthernet;
  std::optional<RuleMask> kernel_rules;  // set: pretend the kernel classified it
  uint32_t rule_generation = 0;          // ... with the rule table of this generation
};

class MemorySource final : public PacketSource {
 public:
  struct Options {
    uint64_t rounds = 1;          // how many times the whole list is fed
    unsigned batch_packets = 64;  // on_batch_end() after this many packets
  };

  MemorySource(std::vector<MemoryPacket> packets, Options options);
  explicit MemorySource(std::vector<MemoryPacket> packets) : MemorySource(std::move(packets), {}) {}

  std::string describe() const override;
  Status run(PacketConsumer& consumer, const std::atomic<bool>& stop) override;

  uint64_t packets_fed() const { return packets_fed_.load(std::memory_order_relaxed); }

 private:
  std::vector<MemoryPacket> packets_;
  Options options_;
  std::atomic<uint64_t> packets_fed_{0};
};

}  // namespace recorder
