#include "dispatch/packet_info.h"

#include <cstring>

namespace recorder {
namespace {

constexpr uint16_t kEtherTypeIPv4 = 0x0800;
constexpr uint16_t kEtherTypeIPv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;     // 802.1Q
constexpr uint16_t kEtherTypeQinQ = 0x88a8;     // 802.1ad
constexpr uint16_t kEtherTypeQinQOld = 0x9100;  // pre-standard QinQ

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoEsp = 50;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoNoNext = 59;
constexpr uint8_t kProtoDestOpts = 60;

// The VLAN-tag and IPv6 extension-header walks stop after this many (a packet can chain them
// without limit; the BPF parser in bpf/recorder has the same bounds, from the same header, so
// both sides give up on the same packets and the kernel rule table agrees with matches()).
constexpr int kMaxVlanTags = RECORDER_MAX_VLAN_TAGS;
constexpr int kMaxExtensionHeaders = RECORDER_MAX_IPV6_EXT_HEADERS;

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// The transport's ports, when it has them (has_port_header()).
void decode_ports(std::span<const uint8_t> l4, PacketInfo& info) {
  if (!has_port_header(info.protocol)) return;
  if (l4.size() < 4) {
    info.incomplete = true;
    return;
  }
  info.has_ports = true;
  info.source_port = load16(l4.data());
  info.destination_port = load16(l4.data() + 2);
}

void decode_ipv4(std::span<const uint8_t> ip, PacketInfo& info) {
  if (ip.size() < 20 || (ip[0] >> 4) != 4) {
    info.incomplete = true;
    return;
  }
  const size_t header_length = size_t{ip[0] & 0x0fu} * 4;
  if (header_length < 20 || header_length > ip.size()) {
    info.incomplete = true;
    return;
  }
  info.ip_version = 4;
  std::memcpy(info.source.data(), ip.data() + 12, 4);
  std::memcpy(info.destination.data(), ip.data() + 16, 4);
  info.has_protocol = true;
  info.protocol = ip[9];
  // Only the fragment at offset 0 carries the transport header (MF may be set or not).
  const uint16_t fragment_offset = load16(ip.data() + 6) & 0x1fff;
  if (fragment_offset != 0) return;
  decode_ports(ip.subspan(header_length), info);
}

void decode_ipv6(std::span<const uint8_t> ip, PacketInfo& info) {
  if (ip.size() < 40 || (ip[0] >> 4) != 6) {
    info.incomplete = true;
    return;
  }
  info.ip_version = 6;
  std::memcpy(info.source.data(), ip.data() + 8, 16);
  std::memcpy(info.destination.data(), ip.data() + 24, 16);
  uint8_t next = ip[6];
  size_t offset = 40;
  for (int headers = 0;; ++headers) {
    switch (next) {
      case kProtoHopByHop:
      case kProtoRouting:
      case kProtoDestOpts:
      case kProtoAh:
      case kProtoFragment:
        break;
      default:
        // A transport (or ESP, or "no next header"): the walk ends here.
        info.has_protocol = true;
        info.protocol = next;
        decode_ports(ip.subspan(offset), info);
        return;
    }
    // Give up on a ninth extension header or a truncated one: the protocol stays unknown.
    if (headers == kMaxExtensionHeaders || ip.size() - offset < 8) {
      info.incomplete = true;
      return;
    }
    const uint8_t* header = ip.data() + offset;
    size_t length;
    if (next == kProtoFragment) {
      length = 8;
      const uint16_t fragment_offset = load16(header + 2) >> 3;
      if (fragment_offset != 0) {
        // A later fragment: the next-header field names the protocol, but the bytes that follow
        // are the middle of its payload, so there are no ports to read.
        info.has_protocol = true;
        info.protocol = header[0];
        return;
      }
    } else if (next == kProtoAh) {
      length = (size_t{header[1]} + 2) * 4;  // AH counts 4-byte units, minus 2
    } else {
      length = (size_t{header[1]} + 1) * 8;
    }
    next = header[0];
    if (length > ip.size() - offset) {  // truncated extension header
      info.incomplete = true;
      return;
    }
    offset += length;
  }
  static_assert(kProtoEsp == 50 && kProtoNoNext == 59, "ESP and no-next end the walk above");
}

}  // namespace

PacketInfo decode_packet_walk(std::span<const uint8_t> bytes, LinkType link_type) {
  PacketInfo info;
  if (link_type == LinkType::kRaw) {
    const uint8_t version = bytes.empty() ? 0 : bytes[0] >> 4;
    if (version == 4) {
      decode_ipv4(bytes, info);
    } else if (version == 6) {
      decode_ipv6(bytes, info);
    } else {
      info.incomplete = true;
    }
    return info;
  }
  if (link_type != LinkType::kEthernet) return info;
  if (bytes.size() < 14) {
    info.incomplete = true;
    return info;
  }
  size_t offset = 12;
  uint16_t ether_type = load16(bytes.data() + offset);
  offset += 2;
  // Up to kMaxVlanTags tags; behind more the frame counts as not IP (and incomplete).
  auto is_vlan = [](uint16_t t) {
    return t == kEtherTypeVlan || t == kEtherTypeQinQ || t == kEtherTypeQinQOld;
  };
  for (int tags = 0; tags < kMaxVlanTags && is_vlan(ether_type); ++tags) {
    if (bytes.size() - offset < 4) {
      info.incomplete = true;
      return info;
    }
    ether_type = load16(bytes.data() + offset + 2);
    offset += 4;
  }
  if (is_vlan(ether_type)) info.incomplete = true;
  if (ether_type == kEtherTypeIPv4) decode_ipv4(bytes.subspan(offset), info);
  if (ether_type == kEtherTypeIPv6) decode_ipv6(bytes.subspan(offset), info);
  return info;
}

}  // namespace recorder
