// A small packet builder for the BPF fixtures: Ethernet (+ VLAN tags) or raw IP, IPv4 (with
// fragment fields) or IPv6 (with extension headers), TCP/UDP/SCTP/ICMP/ICMPv6. Checksums are
// left zero: neither the BPF program nor the decoder looks at them.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace recorder::testing {

struct PacketSpec {
  int ip_version = 4;  // 4, 6, or 0 for a non-IP (ARP) frame
  std::array<uint8_t, 16> src{10, 0, 0, 1};
  std::array<uint8_t, 16> dst{10, 0, 0, 2};
  uint8_t protocol = 17;
  uint16_t sport = 1000, dport = 2000;
  std::vector<uint16_t> vlan_tpids;  // 0x8100 / 0x88a8, outermost first
  std::vector<uint8_t> v6_ext;       // IPv6 extension header types in order (0, 43, 44, 51, 60)
  uint16_t frag_offset = 0;          // in 8-byte units (IPv4 header or IPv6 fragment header)
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

inline void put16(std::vector<uint8_t>& p, uint16_t v) {
  p.push_back(v >> 8);
  p.push_back(v & 0xff);
}

inline std::vector<uint8_t> l4_bytes(const PacketSpec& s) {
  std::vector<uint8_t> l4;
  switch (s.protocol) {
    case 6:  // TCP: ports, seq, ack, offset 5, flags ACK, window
      put16(l4, s.sport);
      put16(l4, s.dport);
      l4.insert(l4.end(), 8, 0);
      l4.push_back(0x50);
      l4.push_back(0x10);
      put16(l4, 65535);
      l4.insert(l4.end(), 4, 0);
      break;
    case 17:  // UDP
      put16(l4, s.sport);
      put16(l4, s.dport);
      put16(l4, static_cast<uint16_t>(8 + s.payload));
      put16(l4, 0);
      break;
    case 132:  // SCTP common header
      put16(l4, s.sport);
      put16(l4, s.dport);
      l4.insert(l4.end(), 8, 0);
      break;
    case 1:
    case 58:  // ICMP echo request
      l4.push_back(s.protocol == 1 ? 8 : 128);
      l4.insert(l4.end(), 7, 0);
      break;
    default:
      break;
  }
  for (size_t i = 0; i < s.payload; ++i) l4.push_back(static_cast<uint8_t>(i * 7 + 3));
  return l4;
}

inline std::vector<uint8_t> build_packet(const PacketSpec& s) {
  std::vector<uint8_t> p;
  if (!s.l3) {
    const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1};
    p.insert(p.end(), macs, macs + 12);
    for (uint16_t tpid : s.vlan_tpids) {
      put16(p, tpid);
      put16(p, 100);  // TCI: VLAN 100
    }
    put16(p, s.ip_version == 4 ? 0x0800 : s.ip_version == 6 ? 0x86dd : 0x0806);
  }
  const std::vector<uint8_t> l4 =
      (s.ip_version == 4 && s.frag_offset != 0) ? std::vector<uint8_t>(24, 0xab) : l4_bytes(s);
  if (s.ip_version == 4) {
    const uint16_t total = static_cast<uint16_t>(20 + l4.size());
    p.push_back(0x45);
    p.push_back(0);
    put16(p, total);
    put16(p, 0x1234);
    put16(p, static_cast<uint16_t>((s.more_fragments ? 0x2000 : 0) | (s.frag_offset & 0x1fff)));
    p.push_back(64);
    p.push_back(s.protocol);
    put16(p, 0);
    p.insert(p.end(), s.src.begin(), s.src.begin() + 4);
    p.insert(p.end(), s.dst.begin(), s.dst.begin() + 4);
    p.insert(p.end(), l4.begin(), l4.end());
  } else if (s.ip_version == 6) {
    std::vector<uint8_t> ext;
    bool non_first_fragment = false;
    for (size_t i = 0; i < s.v6_ext.size(); ++i) {
      const uint8_t next = i + 1 < s.v6_ext.size() ? s.v6_ext[i + 1] : s.protocol;
      const uint8_t type = s.v6_ext[i];
      if (type == 44) {
        ext.push_back(next);
        ext.push_back(0);
        put16(ext, static_cast<uint16_t>((s.frag_offset << 3) | (s.more_fragments ? 1 : 0)));
        ext.insert(ext.end(), {0, 0, 0, 1});
        non_first_fragment = s.frag_offset != 0;
      } else if (type == 51) {  // AH: length in 4-byte units minus 2 -> 16 bytes
        ext.push_back(next);
        ext.push_back(2);
        ext.insert(ext.end(), 14, 0);
      } else {  // hop-by-hop, routing, destination options: 16 bytes
        ext.push_back(next);
        ext.push_back(1);
        ext.insert(ext.end(), 14, 0);
      }
    }
    const std::vector<uint8_t> body = non_first_fragment ? std::vector<uint8_t>(24, 0xab) : l4;
    p.insert(p.end(), {0x60, 0, 0, 0});
    put16(p, static_cast<uint16_t>(ext.size() + body.size()));
    p.push_back(s.v6_ext.empty() ? s.protocol : s.v6_ext[0]);
    p.push_back(64);
    p.insert(p.end(), s.src.begin(), s.src.end());
    p.insert(p.end(), s.dst.begin(), s.dst.end());
    p.insert(p.end(), ext.begin(), ext.end());
    p.insert(p.end(), body.begin(), body.end());
  } else {
    // ARP request body (28 bytes) and padding to the Ethernet minimum.
    p.insert(p.end(), {0, 1, 8, 0, 6, 4, 0, 1});
    p.insert(p.end(), 20, 0);
    p.insert(p.end(), 18, 0);
  }
  if (s.truncate != 0 && s.truncate < p.size()) p.resize(s.truncate);
  return p;
}

}  // namespace recorder::testing
