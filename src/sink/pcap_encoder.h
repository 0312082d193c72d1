// PcapEncoder: classic pcap with nanosecond timestamps (magic 0xa1b23c4d, version 2.4,
// LINKTYPE_ETHERNET).
//
// A pcap file has exactly one link type, so packets captured at L3 (LinkType::kRaw, e.g. from
// a tun or wireguard device) get a synthesized 14-byte Ethernet header: destination and source
// MAC all zero, ethertype 0x86DD when the IP version nibble is 6, else 0x0800. Their captured
// and original lengths in the file include those 14 bytes. Use pcapng to keep raw packets as
// they were captured (it has one link type per interface).
//
// Owned by one Sink; encode() is called on the producer (dispatch) thread only.
#pragma once

#include <cstdint>
#include <span>

#include "dispatch/packet.h"
#include "sink/encoded_record.h"

namespace recorder::sink {

class PcapEncoder {
 public:
  static constexpr size_t kFileHeaderSize = 24;
  static constexpr size_t kRecordHeaderSize = 16;
  static constexpr size_t kSynthesizedEthernetSize = 14;
  static constexpr uint32_t kMagicNanoseconds = 0xa1b23c4d;

  explicit PcapEncoder(uint32_t snap_length) : snap_length_(snap_length) {}

  // Writes the 24-byte file header into `out` (at least kFileHeaderSize bytes); returns its size.
  size_t file_header(std::span<uint8_t> out) const;

  // Describes one packet record; the caller pushes prefix, data, suffix.
  void encode(const CapturedPacket& packet, EncodedRecord& out) const noexcept;

  // The 16-byte record header for `cap_len` bytes of data (`extra` of them synthesized), written
  // straight to `out`: the producer's common case puts it in place in the sink's ring.
  static void record_header(const CapturedPacket& packet, uint32_t cap_len, uint32_t extra,
                            uint8_t* out) noexcept {
    put_u32(out + 0, static_cast<uint32_t>(packet.timestamp_ns / 1000000000u));
    put_u32(out + 4, static_cast<uint32_t>(packet.timestamp_ns % 1000000000u));
    put_u32(out + 8, cap_len + extra);
    put_u32(out + 12,
            (packet.original_length < cap_len ? cap_len : packet.original_length) + extra);
  }

 private:
  uint32_t snap_length_;
};

}  // namespace recorder::sink
