#include "dispatch/packet_info.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "packet_builder.h"

namespace recorder {
namespace {

using test::build_packet;
using test::PacketSpec;

std::array<uint8_t, 16> address(const char* text) {
  std::array<uint8_t, 16> out{};
  if (inet_pton(AF_INET, text, out.data()) != 1) {
    EXPECT_EQ(inet_pton(AF_INET6, text, out.data()), 1) << text;
  }
  return out;
}

PacketInfo decode(const PacketSpec& spec) {
  auto bytes = build_packet(spec);
  return decode_packet(bytes, spec.raw_ip ? LinkType::kRaw : LinkType::kEthernet);
}

TEST(DecodePacket, Ipv4Transports) {
  for (uint8_t proto : {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP}) {
    auto info = decode({.source = "10.1.2.3",
                        .destination = "192.168.0.9",
                        .protocol = proto,
                        .source_port = 1234,
                        .destination_port = 443,
                        .payload_length = 10});
    EXPECT_EQ(info.ip_version, 4);
    EXPECT_EQ(info.source, address("10.1.2.3"));
    EXPECT_EQ(info.destination, address("192.168.0.9"));
    EXPECT_TRUE(info.has_protocol);
    EXPECT_EQ(info.protocol, proto);
    EXPECT_TRUE(info.has_ports);
    EXPECT_EQ(info.source_port, 1234);
    EXPECT_EQ(info.destination_port, 443);
  }
  auto icmp = decode({.protocol = IPPROTO_ICMP});
  EXPECT_TRUE(icmp.has_protocol);
  EXPECT_EQ(icmp.protocol, IPPROTO_ICMP);
  EXPECT_FALSE(icmp.has_ports);
  auto gre = decode({.protocol = 47, .payload_length = 20});
  EXPECT_TRUE(gre.has_protocol);
  EXPECT_EQ(gre.protocol, 47);
  EXPECT_FALSE(gre.has_ports);
}

TEST(DecodePacket, Ipv4OptionsMoveTheTransportHeader) {
  auto info = decode(
      {.protocol = IPPROTO_UDP, .source_port = 7, .destination_port = 9, .ipv4_option_words = 10});
  EXPECT_TRUE(info.has_ports);
  EXPECT_EQ(info.source_port, 7);
  EXPECT_EQ(info.destination_port, 9);
}

TEST(DecodePacket, Ipv4BadHeaderLengthIsNotIp) {
  auto bytes = build_packet({.protocol = IPPROTO_TCP});
  bytes[14] = 0x44;  // IHL 4 (< 20 bytes)
  EXPECT_EQ(decode_packet(bytes, LinkType::kEthernet).ip_version, 0);
  bytes[14] = 0x4f;  // IHL 15 = 60 bytes: more than the packet has after the header? (54 - 14)
  bytes.resize(14 + 40);
  EXPECT_EQ(decode_packet(bytes, LinkType::kEthernet).ip_version, 0);
  bytes[14] = 0x65;  // version 6 behind an IPv4 EtherType
  EXPECT_EQ(decode_packet(bytes, LinkType::kEthernet).ip_version, 0);
}

TEST(DecodePacket, Ipv4Fragments) {
  auto first = decode({.protocol = IPPROTO_UDP,
                       .source_port = 5,
                       .destination_port = 6,
                       .more_fragments = true,
                       .payload_length = 100});
  EXPECT_TRUE(first.has_ports);
  EXPECT_EQ(first.destination_port, 6);
  auto later = decode({.protocol = IPPROTO_UDP,
                       .fragment_offset = 14,
                       .more_fragments = true,
                       .payload_length = 100});
  EXPECT_EQ(later.ip_version, 4);
  EXPECT_TRUE(later.has_protocol);
  EXPECT_EQ(later.protocol, IPPROTO_UDP);
  EXPECT_FALSE(later.has_ports);
  auto last = decode({.protocol = IPPROTO_TCP, .fragment_offset = 100, .payload_length = 8});
  EXPECT_FALSE(last.has_ports);
}

TEST(DecodePacket, Ipv6Transports) {
  for (uint8_t proto : {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP}) {
    auto info = decode({.source = "fd00::1",
                        .destination = "2001:db8::42",
                        .protocol = proto,
                        .source_port = 53,
                        .destination_port = 5353});
    EXPECT_EQ(info.ip_version, 6);
    EXPECT_EQ(info.source, address("fd00::1"));
    EXPECT_EQ(info.destination, address("2001:db8::42"));
    EXPECT_EQ(info.protocol, proto);
    EXPECT_TRUE(info.has_ports);
    EXPECT_EQ(info.source_port, 53);
    EXPECT_EQ(info.destination_port, 5353);
  }
  auto icmp6 = decode({.source = "fd00::1", .destination = "fd00::2", .protocol = IPPROTO_ICMPV6});
  EXPECT_TRUE(icmp6.has_protocol);
  EXPECT_EQ(icmp6.protocol, IPPROTO_ICMPV6);
  EXPECT_FALSE(icmp6.has_ports);
}

TEST(DecodePacket, Ipv6ExtensionHeaders) {
  auto info = decode({.source = "fd00::1",
                      .destination = "fd00::2",
                      .protocol = IPPROTO_TCP,
                      .source_port = 11,
                      .destination_port = 22,
                      .ipv6_extensions = {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS,
                                          IPPROTO_AH, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS}});
  EXPECT_TRUE(info.has_protocol);
  EXPECT_EQ(info.protocol, IPPROTO_TCP);
  EXPECT_TRUE(info.has_ports);
  EXPECT_EQ(info.source_port, 11);
  EXPECT_EQ(info.destination_port, 22);
}

TEST(DecodePacket, Ipv6ExtensionWalkIsBounded) {
  PacketSpec spec{.source = "fd00::1", .destination = "fd00::2", .protocol = IPPROTO_UDP};
  spec.ipv6_extensions.assign(8, IPPROTO_DSTOPTS);
  EXPECT_TRUE(decode(spec).has_ports);  // 8 headers: still walked
  spec.ipv6_extensions.assign(9, IPPROTO_DSTOPTS);
  auto info = decode(spec);
  EXPECT_EQ(info.ip_version, 6);
  EXPECT_FALSE(info.has_protocol);
  EXPECT_FALSE(info.has_ports);
}

TEST(DecodePacket, Ipv6Fragments) {
  auto first = decode({.source = "fd00::1",
                       .destination = "fd00::2",
                       .protocol = IPPROTO_UDP,
                       .destination_port = 4789,
                       .more_fragments = true,
                       .payload_length = 64});
  EXPECT_TRUE(first.has_ports);
  EXPECT_EQ(first.destination_port, 4789);
  auto later = decode({.source = "fd00::1",
                       .destination = "fd00::2",
                       .protocol = IPPROTO_UDP,
                       .fragment_offset = 9,
                       .payload_length = 64});
  EXPECT_TRUE(later.has_protocol);
  EXPECT_EQ(later.protocol, IPPROTO_UDP);
  EXPECT_FALSE(later.has_ports);
}

TEST(DecodePacket, Ipv6EspAndNoNextEndTheWalk) {
  auto esp = decode({.source = "fd00::1",
                     .destination = "fd00::2",
                     .protocol = 50,
                     .ipv6_extensions = {IPPROTO_HOPOPTS},
                     .payload_length = 32});
  EXPECT_TRUE(esp.has_protocol);
  EXPECT_EQ(esp.protocol, 50);
  EXPECT_FALSE(esp.has_ports);
  auto none = decode({.source = "fd00::1", .destination = "fd00::2", .protocol = 59});
  EXPECT_EQ(none.protocol, 59);
  EXPECT_FALSE(none.has_ports);
}

TEST(DecodePacket, VlanAndQinQ) {
  for (auto tags :
       std::vector<std::vector<test::VlanTag>>{{{0x8100, 10}},
                                               {{0x88a8, 100}, {0x8100, 10}},
                                               {{0x9100, 1}, {0x88a8, 2}, {0x8100, 3}}}) {
    auto v4 = decode({.vlans = tags, .protocol = IPPROTO_UDP, .destination_port = 53});
    EXPECT_EQ(v4.ip_version, 4);
    EXPECT_EQ(v4.destination_port, 53);
    auto v6 = decode({.vlans = tags,
                      .source = "fd00::1",
                      .destination = "fd00::2",
                      .protocol = IPPROTO_TCP,
                      .destination_port = 80});
    EXPECT_EQ(v6.ip_version, 6);
    EXPECT_EQ(v6.destination_port, 80);
  }
}

TEST(DecodePacket, VlanWalkIsBoundedLikeTheKernel) {
  PacketSpec spec{.protocol = IPPROTO_UDP, .destination_port = 53};
  spec.vlans.assign(8, test::VlanTag{0x8100, 1});
  EXPECT_EQ(decode(spec).destination_port, 53);
  spec.vlans.assign(9, test::VlanTag{0x8100, 1});
  const PacketInfo info = decode(spec);
  EXPECT_EQ(info.ip_version, 0);
  EXPECT_FALSE(info.has_protocol);
}

TEST(DecodePacket, RawIp) {
  auto v4 = decode({.raw_ip = true, .protocol = IPPROTO_TCP, .destination_port = 22});
  EXPECT_EQ(v4.ip_version, 4);
  EXPECT_EQ(v4.destination_port, 22);
  auto v6 = decode({.raw_ip = true,
                    .source = "::1",
                    .destination = "::2",
                    .protocol = IPPROTO_UDP,
                    .destination_port = 123});
  EXPECT_EQ(v6.ip_version, 6);
  EXPECT_EQ(v6.destination_port, 123);
  // A raw packet is not Ethernet: decoding it as Ethernet must not find the same thing.
  const std::vector<uint8_t> junk = {0x15, 1, 2, 3};
  EXPECT_EQ(decode_packet(junk, LinkType::kRaw).ip_version, 0);
}

TEST(DecodePacket, NonIpLeavesEverythingUnset) {
  auto bytes = build_packet({.ether_type = 0x0806, .payload_length = 28});
  auto info = decode_packet(bytes, LinkType::kEthernet);
  EXPECT_EQ(info.ip_version, 0);
  EXPECT_FALSE(info.has_protocol);
  EXPECT_FALSE(info.has_ports);
  EXPECT_EQ(info.source, (std::array<uint8_t, 16>{}));
}

// Every prefix of several packets decodes without reading out of bounds (ASan checks that, the
// copy into an exactly sized buffer makes any over-read visible), and what is set is consistent.
TEST(DecodePacket, EveryTruncationIsSafe) {
  const std::vector<PacketSpec> specs = {
      {.protocol = IPPROTO_TCP, .ipv4_option_words = 2, .payload_length = 4},
      {.vlans = {{0x88a8, 1}, {0x8100, 2}}, .protocol = IPPROTO_UDP},
      {.source = "fd00::1",
       .destination = "fd00::2",
       .protocol = IPPROTO_SCTP,
       .ipv6_extensions = {IPPROTO_HOPOPTS, IPPROTO_AH, IPPROTO_FRAGMENT, IPPROTO_ROUTING}},
      {.raw_ip = true,
       .source = "fd00::1",
       .destination = "fd00::2",
       .protocol = IPPROTO_TCP,
       .ipv6_extensions = {IPPROTO_DSTOPTS}},
      {.raw_ip = true, .protocol = IPPROTO_UDP},
  };
  for (const PacketSpec& spec : specs) {
    const auto full = build_packet(spec);
    const LinkType link = spec.raw_ip ? LinkType::kRaw : LinkType::kEthernet;
    const PacketInfo complete = decode_packet(full, link);
    ASSERT_TRUE(complete.has_ports);
    bool saw_ports = false;
    for (size_t len = 0; len <= full.size(); ++len) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(len));
      const PacketInfo info = decode_packet(cut, link);
      if (info.has_ports) {
        saw_ports = true;
        EXPECT_EQ(info.source_port, complete.source_port);
        EXPECT_EQ(info.destination_port, complete.destination_port);
      } else {
        EXPECT_FALSE(saw_ports) << "ports appear once the L4 header is complete and stay";
        EXPECT_EQ(info.source_port, 0);
      }
      if (info.has_protocol) {
        EXPECT_EQ(info.protocol, complete.protocol);
        EXPECT_NE(info.ip_version, 0);
      }
      if (info.ip_version != 0) {
        EXPECT_EQ(info.source, complete.source);
        EXPECT_EQ(info.destination, complete.destination);
      }
    }
    EXPECT_TRUE(saw_ports);
  }
}

// decode_packet() takes the common frame inline: it must agree with the full walk on every frame,
// the ones the inline path takes (every transport, cut anywhere) and the ones it must leave to the
// walk (its checks broken one byte at a time, at every value a byte can take).
TEST(DecodePacket, TheInlineFrameAgreesWithTheWalk) {
  std::vector<std::vector<uint8_t>> frames;
  for (uint8_t proto : {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_GRE}) {
    frames.push_back(build_packet({.source = "10.1.2.3",
                                   .destination = "192.168.0.9",
                                   .protocol = proto,
                                   .source_port = 1234,
                                   .destination_port = 80,
                                   .payload_length = 8}));
  }
  for (const auto& frame : frames) {
    for (size_t len = 0; len <= frame.size(); ++len) {
      const std::span<const uint8_t> cut(frame.data(), len);
      EXPECT_EQ(decode_packet(cut, LinkType::kEthernet),
                decode_packet_walk(cut, LinkType::kEthernet))
          << "cut to " << len;
      EXPECT_EQ(decode_packet(cut, LinkType::kRaw), decode_packet_walk(cut, LinkType::kRaw));
    }
    for (size_t at = 0; at < 38; ++at) {
      for (int value = 0; value < 256; ++value) {
        std::vector<uint8_t> changed = frame;
        changed[at] = static_cast<uint8_t>(value);
        EXPECT_EQ(decode_packet(changed, LinkType::kEthernet),
                  decode_packet_walk(changed, LinkType::kEthernet))
            << "byte " << at << " = " << value;
      }
    }
  }
}

// `incomplete` marks what the kernel counts as unclassified: a header the filters need is cut,
// malformed or beyond the parse limits; complete non-IP frames and later fragments are not.
TEST(DecodePacket, IncompleteMarksWhatTheDecoderGaveUpOn) {
  auto decode = [](const std::vector<uint8_t>& bytes, LinkType link = LinkType::kEthernet) {
    return decode_packet(bytes, link);
  };
  const auto tcp = build_packet({.protocol = IPPROTO_TCP});
  EXPECT_FALSE(decode(tcp).incomplete);
  EXPECT_FALSE(decode(build_packet({.ether_type = 0x0806})).incomplete) << "ARP is complete";
  EXPECT_FALSE(decode(build_packet({.protocol = IPPROTO_UDP, .fragment_offset = 10})).incomplete)
      << "a later fragment has no ports by nature";
  EXPECT_TRUE(decode({tcp.begin(), tcp.begin() + 13}).incomplete) << "no EtherType";
  EXPECT_TRUE(decode({tcp.begin(), tcp.begin() + 14 + 19}).incomplete) << "IPv4 header cut";
  EXPECT_TRUE(decode({tcp.begin(), tcp.begin() + 14 + 20 + 3}).incomplete) << "ports cut";
  auto bad_ihl = tcp;
  bad_ihl[14] = 0x44;
  EXPECT_TRUE(decode(bad_ihl).incomplete) << "IHL 4";
  auto wrong_version = tcp;
  wrong_version[14] = 0x65;
  EXPECT_TRUE(decode(wrong_version).incomplete) << "EtherType IPv4, version 6";
  EXPECT_TRUE(
      decode(build_packet({.vlans = std::vector<test::VlanTag>(9, {0x8100, 1})})).incomplete)
      << "a ninth VLAN tag";
  EXPECT_FALSE(
      decode(build_packet({.vlans = std::vector<test::VlanTag>(8, {0x8100, 1})})).incomplete);
  const PacketInfo nine_ext =
      decode(build_packet({.source = "fd00::1",
                           .destination = "fd00::2",
                           .protocol = IPPROTO_UDP,
                           .ipv6_extensions = std::vector<uint8_t>(9, 60)}));
  EXPECT_TRUE(nine_ext.incomplete) << "a ninth IPv6 extension header";
  EXPECT_FALSE(nine_ext.has_protocol);
  EXPECT_FALSE(decode(build_packet({.source = "fd00::1",
                                    .destination = "fd00::2",
                                    .protocol = IPPROTO_UDP,
                                    .ipv6_extensions = std::vector<uint8_t>(8, 60)}))
                   .incomplete);
  EXPECT_TRUE(decode({0x00}, LinkType::kRaw).incomplete) << "raw IP of version 0";
}

}  // namespace
}  // namespace recorder
