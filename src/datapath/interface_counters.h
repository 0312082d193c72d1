// InterfaceCounters: packets and bytes per interface and direction, counted by one writer (the
// datapath's reader thread, for every sample the kernel delivered) and read by anyone (a metrics
// scrape). A fixed open-addressing table: counting never allocates, locks or makes a syscall,
// and costs a multiply, a probe and two relaxed stores per packet. Once kSlots distinct
// interface/direction pairs have been seen, further pairs are counted together in overflow().
// Slots are never freed: an interface deleted keeps its counts (Linux does not reuse an index
// soon), so a scrape's counters never go back.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace recorder::datapath {

class InterfaceCounters {
 public:
  static constexpr size_t kSlots = 512;

  struct Count {
    uint32_t ifindex = 0;
    uint8_t direction = 0;  // enum recorder_direction
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };

  // Writer only.
  void add(uint32_t ifindex, uint8_t direction, uint64_t bytes) noexcept {
    const uint64_t key = (static_cast<uint64_t>(ifindex) << 2 | (direction & 3u)) + 1;  // 0: free
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 55) % kSlots;
    for (size_t probes = 0; probes < kSlots; ++probes, i = (i + 1) % kSlots) {
      Slot& s = slots_[i];
      const uint64_t k = s.key.load(std::memory_order_relaxed);
      if (k == key) return bump(s, bytes);
      if (k == 0) {
        s.key.store(key, std::memory_order_release);  // counters are zero: readers see 0 or more
        return bump(s, bytes);
      }
    }
    bump(overflow_, bytes);
  }

  // Any thread: every pair seen so far.
  std::vector<Count> counts() const {
    std::vector<Count> out;
    for (const Slot& s : slots_) {
      const uint64_t key = s.key.load(std::memory_order_acquire);
      if (key == 0) continue;
      out.push_back({static_cast<uint32_t>((key - 1) >> 2), static_cast<uint8_t>((key - 1) & 3u),
                     s.packets.load(std::memory_order_relaxed),
                     s.bytes.load(std::memory_order_relaxed)});
    }
    return out;
  }
  Count overflow() const {
    return {0, 0, overflow_.packets.load(std::memory_order_relaxed),
            overflow_.bytes.load(std::memory_order_relaxed)};
  }

 private:
  struct Slot {
    std::atomic<uint64_t> key{0};
    std::atomic<uint64_t> packets{0};
    std::atomic<uint64_t> bytes{0};
  };
  static void bump(Slot& s, uint64_t bytes) noexcept {
    // Single writer: a plain load/store pair, no locked read-modify-write on the hot path.
    s.packets.store(s.packets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    s.bytes.store(s.bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  }

  std::array<Slot, kSlots> slots_{};
  Slot overflow_;
};

}  // namespace recorder::datapath
