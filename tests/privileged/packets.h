// The BPF fixtures' packet description: a compact spec with binary addresses, translated onto
// the shared packet builder (tests/support/packet_builder.h).
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "packet_builder.h"

namespace recorder::testing {

struct PacketSpec {
  int ip_version = 4;  // 4, 6, or 0 for a non-IP (ARP) frame
  std::array<uint8_t, 16> src{10, 0, 0, 1};
  std::array<uint8_t, 16> dst{10, 0, 0, 2};
  uint8_t protocol = 17;
  uint16_t sport = 1000, dport = 2000;
  std::vector<uint16_t> vlan_tpids;  // 0x8100 / 0x88a8, outermost first
  std::vector<uint8_t> v6_ext;       // IPv6 extension header types in order (0, 43, 44, 51, 60)
  uint16_t frag_offset = 0;          // in 8-byte units (IPv4 header or IPv6 fragment header;
                                     // the builder adds a fragment header when needed)
  bool more_fragments = false;
  size_t payload = 32;  // bytes after the L4 header
  bool l3 = false;      // no Ethernet header (tun/wireguard)
  size_t truncate = 0;  // cut the packet to this many bytes when non-zero
};

inline std::array<uint8_t, 16> ip4(const char* text) {
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET, text, a.data());
  return a;
}
inline std::array<uint8_t, 16> ip6(const char* text) {
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET6, text, a.data());
  return a;
}

// Builds the frame with the shared builder (tests/support/packet_builder.h), so the fixtures,
// the agreement test and the dispatch tests all use one definition of a packet.
inline std::vector<uint8_t> build_packet(const PacketSpec& s) {
  test::PacketSpec t;
  t.raw_ip = s.l3;
  for (uint16_t tpid : s.vlan_tpids) t.vlans.push_back({tpid, 100});
  char text[INET6_ADDRSTRLEN];
  const int family = s.ip_version == 6 ? AF_INET6 : AF_INET;
  t.source = inet_ntop(family, s.src.data(), text, sizeof(text));
  t.destination = inet_ntop(family, s.dst.data(), text, sizeof(text));
  if (s.ip_version == 0) t.ether_type = 0x0806;  // ARP EtherType: not IP whatever follows
  t.protocol = s.protocol;
  t.source_port = s.sport;
  t.destination_port = s.dport;
  t.ipv6_extensions = s.v6_ext;
  t.fragment_offset = s.frag_offset;
  t.more_fragments = s.more_fragments;
  t.payload_length = s.payload;
  std::vector<uint8_t> p = test::build_packet(t);
  if (s.truncate != 0 && s.truncate < p.size()) p.resize(s.truncate);
  return p;
}

}  // namespace recorder::testing
