// EncodedRecord: one file record as the producer pushes it into a sink's byte queue.
//
// Encoders never copy packet bytes themselves: they fill a small fixed-size prefix (block and
// record headers, an inline pcapng interface block, a synthesized Ethernet header) and suffix
// (pcapng padding, options and trailing length) on the caller's stack, and point at the packet
// bytes. The sink then pushes prefix, data, suffix into its queue: the packet bytes are copied
// exactly once on the producer side. Owned by the sink area; no allocation, no syscalls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace recorder::sink {

struct EncodedRecord {
  // Largest prefix: a pcapng IDB (at most 60 bytes) followed by an EPB header (28 bytes).
  static constexpr size_t kMaxPrefix = 128;
  // Largest suffix: 3 padding bytes, epb_flags (8), opt_endofopt (4), trailing length (4).
  static constexpr size_t kMaxSuffix = 32;

  uint8_t prefix[kMaxPrefix];
  uint32_t prefix_len = 0;
  std::span<const uint8_t> data;
  uint8_t suffix[kMaxSuffix];
  uint32_t suffix_len = 0;
  // pcapng: the interface slot whose IDB is in `prefix` and must be marked as emitted once the
  // record is in the queue (-1: none). A record that does not fit is dropped whole, IDB included.
  int new_interface_slot = -1;

  size_t size() const { return prefix_len + data.size() + suffix_len; }
};

// Little helpers to lay out native-endian fields (the file's magic number tells readers the
// byte order, so native order is valid pcap/pcapng on any host).
inline void put_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }
inline void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }
inline void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }
inline uint16_t get_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace recorder::sink
