// PacketInfo: the fields of a packet that filters look at, as the decoder found them.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>

#include "dispatch/packet.h"

namespace recorder {

struct PacketInfo {
  uint8_t ip_version = 0;                 // 0: not IP (or too short to tell), 4 or 6
  std::array<uint8_t, 16> source{};       // network byte order; IPv4 in [0..3]
  std::array<uint8_t, 16> destination{};  // network byte order; IPv4 in [0..3]
  bool has_protocol = false;              // the L4 protocol number is known
  uint8_t protocol = 0;           // IPPROTO_* of the transport (after IPv6 extension headers)
  bool has_ports = false;         // TCP/UDP/SCTP ports present (first fragment, not truncated)
  uint16_t source_port = 0;       // host byte order
  uint16_t destination_port = 0;  // host byte order
  // A header the filters need is truncated, malformed or beyond the parse limits (what the
  // kernel counts as "unclassified"); the fields found so far are set, the rest are not.
  bool incomplete = false;

  bool operator==(const PacketInfo&) const = default;
};

// Decodes Ethernet (with up to 8 802.1Q/802.1ad/0x9100 tags) or raw IP, IPv4 (fragments: only
// the first has ports), IPv6 with extension headers, and TCP/UDP/SCTP ports. Never reads outside
// `bytes`; what cannot be decoded is left unset. The BPF parser (bpf/recorder) follows the same
// rules, so the kernel and user space classify a packet alike:
//  - IPv4: the version nibble must be 4 and the IHL 5..15 with the whole header captured, else
//    the packet is not IP. The protocol is always known; ports only at fragment offset 0.
//  - IPv6: hop-by-hop (0), routing (43), destination options (60), AH (51) and fragment (44)
//    headers are walked, at most 8; behind more, or a truncated one, the protocol is unknown.
//    A fragment header with a non-zero offset gives its next-header value as the protocol and
//    no ports. Any other next header (TCP, UDP, ESP 50, no-next 59, ...) ends the walk.
//  - Ports need the first 4 bytes of a TCP, UDP or SCTP header.
//  - Raw IP (LinkType::kRaw): the version nibble picks IPv4 or IPv6.
// `incomplete` is set when the decoder gives up on a header it expected: an Ethernet frame
// shorter than 14 bytes, a cut VLAN tag or more than 8 tags, an IPv4/IPv6 header that is cut,
// of the wrong version or with a bad IHL (raw IP: a version other than 4 or 6), a cut or ninth
// IPv6 extension header, a cut TCP/UDP/SCTP port pair. Non-IP EtherTypes (ARP, ...) and later
// fragments (no ports by nature) are complete.
//
// The common frame (is_common_frame()) is decoded inline, the rest by decode_packet_walk(): the
// same result (DecodePacket.TheInlineFrameAgreesWithTheWalk), without two calls per packet on the
// hot path of a ring, which decodes the packets it indexes.
PacketInfo decode_packet_walk(std::span<const uint8_t> bytes, LinkType link_type);

// TCP, UDP and SCTP all start with the source and destination ports.
inline bool has_port_header(uint8_t protocol) {
  return protocol == 6 || protocol == 17 || protocol == 132;  // TCP, UDP, SCTP
}

// Untagged Ethernet, a 20-byte IPv4 header (version 4, IHL 5) at fragment offset 0, and 4 bytes
// past it (where TCP, UDP and SCTP have their ports).
inline bool is_common_frame(std::span<const uint8_t> bytes, LinkType link_type) {
  const uint8_t* p = bytes.data();
  return link_type == LinkType::kEthernet && bytes.size() >= 38 && p[12] == 0x08 && p[13] == 0x00 &&
         p[14] == 0x45 && (p[20] & 0x1f) == 0 && p[21] == 0;
}

// What a common frame's PacketInfo is made of, read from the frame: its addresses, and its
// protocol with the 4 bytes after the IPv4 header. Common frames with equal keys decode alike
// (a ring recognizes the packets of the last flow by it, without decoding them).
struct CommonFrameKey {
  uint64_t addresses = 0;
  uint64_t rest = uint64_t{1} << 63;  // the default matches no frame's
  bool operator==(const CommonFrameKey&) const = default;
};

inline CommonFrameKey common_frame_key(std::span<const uint8_t> frame) {
  CommonFrameKey key;
  uint32_t after_header;
  std::memcpy(&key.addresses, frame.data() + 26, 8);
  std::memcpy(&after_header, frame.data() + 34, 4);
  key.rest = uint64_t{after_header} | uint64_t{frame[23]} << 32;
  return key;
}

inline PacketInfo decode_packet(std::span<const uint8_t> bytes, LinkType link_type) {
  PacketInfo info;  // the one object returned, so it is built in place
  if (!is_common_frame(bytes, link_type)) {
    info = decode_packet_walk(bytes, link_type);
    return info;
  }
  const uint8_t* p = bytes.data();
  info.ip_version = 4;
  std::memcpy(info.source.data(), p + 26, 4);
  std::memcpy(info.destination.data(), p + 30, 4);
  info.has_protocol = true;
  info.protocol = p[23];
  if (has_port_header(info.protocol)) {
    info.has_ports = true;
    info.source_port = static_cast<uint16_t>(p[34] << 8 | p[35]);
    info.destination_port = static_cast<uint16_t>(p[36] << 8 | p[37]);
  }
  return info;
}

}  // namespace recorder
