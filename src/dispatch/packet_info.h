// PacketInfo: the fields of a packet that filters look at, as the decoder found them.
#pragma once

#include <array>
#include <cstdint>
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
};

// Decodes Ethernet (with any number of 802.1Q/802.1ad tags) or raw IP, IPv4 (fragments: only
// the first has ports), IPv6 with extension headers, and TCP/UDP/SCTP ports. Never reads outside
// `bytes`; what cannot be decoded is left unset.
PacketInfo decode_packet(std::span<const uint8_t> bytes, LinkType link_type);

}  // namespace recorder
