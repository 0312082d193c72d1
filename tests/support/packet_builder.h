// packet_builder.h: builds test packets byte by byte, for every test that needs real frames
// (dispatch decoder and classifier tests, sink tests, BPF_PROG_TEST_RUN fixtures, replay files).
//
// Header-only, no dependencies beyond the C++ library and <arpa/inet.h>. Describe the packet in a
// PacketSpec and call build_packet():
//
//   auto frame = test::build_packet({.source = "10.0.0.1", .destination = "10.0.0.2",
//                                    .protocol = IPPROTO_TCP, .source_port = 40000,
//                                    .destination_port = 443, .payload_length = 100});
//
// Lengths (IPv4 total length and IHL, IPv6 payload length, UDP length, extension header
// lengths) are correct; the IPv4 header checksum is computed; L4 checksums are left zero.
// Owned by dispatch (tests/support is shared: add helpers, don't change what others use).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace recorder::test {

struct VlanTag {
  uint16_t tpid = 0x8100;  // 0x8100 (802.1Q), 0x88a8 (802.1ad), 0x9100
  uint16_t vid = 1;
};

struct PacketSpec {
  bool raw_ip = false;              // true: no Ethernet header (LINKTYPE_RAW)
  std::vector<VlanTag> vlans;       // outermost first
  uint16_t ether_type = 0;          // 0: from the address family; else forced (e.g. 0x0806 ARP)
  std::string source = "10.0.0.1";  // IPv4 or IPv6 text; the family follows from it
  std::string destination = "10.0.0.2";  // must be the same family as source
  uint8_t protocol = IPPROTO_TCP;        // IPPROTO_*; the L4 header is built for TCP, UDP,
                                         // SCTP, ICMP and ICMPv6, others get only the payload
  uint16_t source_port = 1000;
  uint16_t destination_port = 2000;
  uint8_t ipv4_option_words = 0;  // extra 4-byte words of IPv4 options (IHL = 5 + this)
  // IPv6 extension headers in order, by protocol number: 0 (hop-by-hop), 43 (routing),
  // 60 (destination options), 51 (AH), 44 (fragment). Each is 8 bytes, AH is 12.
  std::vector<uint8_t> ipv6_extensions;
  // Fragmentation: IPv4 flags/offset, or IPv6 fragment header values (a fragment header is
  // added when the offset or more_fragments is set and none is in ipv6_extensions).
  uint16_t fragment_offset = 0;  // in 8-byte units
  bool more_fragments = false;
  size_t payload_length = 0;  // bytes after the L4 header (filled with a counter pattern)
  uint8_t ttl = 64;
};

namespace packet_builder_detail {

inline void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

inline void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}

inline void set16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
  out[at] = static_cast<uint8_t>(v >> 8);
  out[at + 1] = static_cast<uint8_t>(v);
}

inline uint16_t ipv4_checksum(const uint8_t* header, size_t length) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < length; i += 2)
    sum += static_cast<uint32_t>(header[i] << 8 | header[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Transport header + payload. `first_fragment` false: payload only (a later fragment).
inline std::vector<uint8_t> transport(const PacketSpec& spec, bool first_fragment) {
  std::vector<uint8_t> l4;
  if (first_fragment) {
    switch (spec.protocol) {
      case IPPROTO_TCP:
        put16(l4, spec.source_port);
        put16(l4, spec.destination_port);
        put32(l4, 1);              // sequence
        put32(l4, 0);              // acknowledgment
        put16(l4, 0x5000 | 0x02);  // data offset 5, SYN
        put16(l4, 65535);          // window
        put32(l4, 0);              // checksum, urgent pointer
        break;
      case IPPROTO_UDP:
        put16(l4, spec.source_port);
        put16(l4, spec.destination_port);
        put16(l4, static_cast<uint16_t>(8 + spec.payload_length));
        put16(l4, 0);
        break;
      case IPPROTO_SCTP:
        put16(l4, spec.source_port);
        put16(l4, spec.destination_port);
        put32(l4, 0x01020304);  // verification tag
        put32(l4, 0);           // checksum
        break;
      case IPPROTO_ICMP:
        l4 = {8, 0, 0, 0, 0x12, 0x34, 0, 1};  // echo request
        break;
      case IPPROTO_ICMPV6:
        l4 = {128, 0, 0, 0, 0x12, 0x34, 0, 1};  // echo request
        break;
      default:
        break;
    }
  }
  for (size_t i = 0; i < spec.payload_length; ++i) l4.push_back(static_cast<uint8_t>(i));
  return l4;
}

inline std::vector<uint8_t> ipv4(const PacketSpec& spec, in_addr src, in_addr dst) {
  const bool first = spec.fragment_offset == 0;
  const std::vector<uint8_t> l4 = transport(spec, first);
  const size_t header_length = 20 + size_t{spec.ipv4_option_words} * 4;
  std::vector<uint8_t> ip;
  ip.push_back(static_cast<uint8_t>(0x40 | (header_length / 4)));
  ip.push_back(0);
  put16(ip, static_cast<uint16_t>(header_length + l4.size()));
  put16(ip, 0x1234);  // identification
  put16(ip, static_cast<uint16_t>((spec.more_fragments ? 0x2000 : 0) |
                                  (spec.fragment_offset & 0x1fff)));
  ip.push_back(spec.ttl);
  ip.push_back(spec.protocol);
  put16(ip, 0);  // checksum, below
  const auto* s = reinterpret_cast<const uint8_t*>(&src);
  const auto* d = reinterpret_cast<const uint8_t*>(&dst);
  ip.insert(ip.end(), s, s + 4);
  ip.insert(ip.end(), d, d + 4);
  for (size_t i = 0; i < size_t{spec.ipv4_option_words} * 4; ++i) ip.push_back(1);  // NOPs
  set16(ip, 10, ipv4_checksum(ip.data(), header_length));
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

inline std::vector<uint8_t> ipv6(const PacketSpec& spec, in6_addr src, in6_addr dst) {
  std::vector<uint8_t> extensions = spec.ipv6_extensions;
  bool has_fragment = false;
  for (uint8_t e : extensions) has_fragment |= e == IPPROTO_FRAGMENT;
  if (!has_fragment && (spec.fragment_offset != 0 || spec.more_fragments)) {
    extensions.push_back(IPPROTO_FRAGMENT);
  }
  bool first = true;
  std::vector<uint8_t> chain;
  for (size_t i = 0; i < extensions.size(); ++i) {
    const uint8_t type = extensions[i];
    const uint8_t next = i + 1 < extensions.size() ? extensions[i + 1] : spec.protocol;
    if (type == IPPROTO_FRAGMENT) {
      chain.push_back(next);
      chain.push_back(0);
      put16(chain,
            static_cast<uint16_t>((spec.fragment_offset << 3) | (spec.more_fragments ? 1 : 0)));
      put32(chain, 0xabcdef01);  // identification
      if (spec.fragment_offset != 0) first = false;
    } else if (type == IPPROTO_AH) {
      chain.push_back(next);
      chain.push_back(1);  // (12 / 4) - 2
      put16(chain, 0);
      put32(chain, 0x100);  // SPI
      put32(chain, 1);      // sequence
    } else if (type == IPPROTO_HOPOPTS || type == IPPROTO_ROUTING || type == IPPROTO_DSTOPTS) {
      chain.push_back(next);
      chain.push_back(0);  // 8 bytes
      if (type == IPPROTO_ROUTING) {
        chain.insert(chain.end(), {0, 0});  // routing type 0, segments left 0
      } else {
        chain.insert(chain.end(), {1, 4});  // PadN of 4 bytes ...
      }
      put32(chain, 0);
    } else {
      throw std::invalid_argument("packet_builder: unsupported IPv6 extension header " +
                                  std::to_string(type));
    }
  }
  const std::vector<uint8_t> l4 = transport(spec, first);
  std::vector<uint8_t> ip;
  put32(ip, 0x60000000);
  put16(ip, static_cast<uint16_t>(chain.size() + l4.size()));
  ip.push_back(extensions.empty() ? spec.protocol : extensions.front());
  ip.push_back(spec.ttl);
  const auto* s = reinterpret_cast<const uint8_t*>(&src);
  const auto* d = reinterpret_cast<const uint8_t*>(&dst);
  ip.insert(ip.end(), s, s + 16);
  ip.insert(ip.end(), d, d + 16);
  ip.insert(ip.end(), chain.begin(), chain.end());
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

}  // namespace packet_builder_detail

// Builds the packet; throws std::invalid_argument for an unparsable address or a family
// mismatch (a test bug, not a packet property).
inline std::vector<uint8_t> build_packet(const PacketSpec& spec) {
  namespace d = packet_builder_detail;
  std::vector<uint8_t> ip;
  uint16_t ether_type = 0;
  in_addr s4{}, d4{};
  in6_addr s6{}, d6{};
  if (inet_pton(AF_INET, spec.source.c_str(), &s4) == 1) {
    if (inet_pton(AF_INET, spec.destination.c_str(), &d4) != 1) {
      throw std::invalid_argument("packet_builder: destination is not IPv4: " + spec.destination);
    }
    ip = d::ipv4(spec, s4, d4);
    ether_type = 0x0800;
  } else if (inet_pton(AF_INET6, spec.source.c_str(), &s6) == 1) {
    if (inet_pton(AF_INET6, spec.destination.c_str(), &d6) != 1) {
      throw std::invalid_argument("packet_builder: destination is not IPv6: " + spec.destination);
    }
    ip = d::ipv6(spec, s6, d6);
    ether_type = 0x86dd;
  } else {
    throw std::invalid_argument("packet_builder: source is not an IP address: " + spec.source);
  }
  if (spec.raw_ip) return ip;
  std::vector<uint8_t> frame = {0x02, 0, 0, 0, 0, 0x02,   // destination MAC
                                0x02, 0, 0, 0, 0, 0x01};  // source MAC
  for (const VlanTag& tag : spec.vlans) {
    d::put16(frame, tag.tpid);
    d::put16(frame, tag.vid & 0x0fff);
  }
  d::put16(frame, spec.ether_type != 0 ? spec.ether_type : ether_type);
  frame.insert(frame.end(), ip.begin(), ip.end());
  return frame;
}

}  // namespace recorder::test
