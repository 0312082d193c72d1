#include "dispatch/classifier.h"

#include <gtest/gtest.h>

#include <random>

#include "dispatch/rule_mask.h"
#include "packet_builder.h"

namespace recorder {
namespace {

// Small pools of addresses and ports, so random rules and packets share prefixes and ports
// often enough that many rule/packet pairs match.
struct Pools {
  std::vector<std::array<uint8_t, 16>> v4;
  std::vector<std::array<uint8_t, 16>> v6;
  std::vector<uint16_t> ports = {53, 80, 443, 8080, 1, 65535, 30000};
  std::vector<Protocol> protocols = {Protocol::kAny,  Protocol::kTcp,  Protocol::kUdp,
                                     Protocol::kSctp, Protocol::kIcmp, Protocol::kIcmpV6};
  std::vector<uint8_t> packet_protocols = {1, 6, 17, 58, 132, 47, 50};

  explicit Pools(std::mt19937_64& rng) {
    for (int i = 0; i < 6; ++i) {
      std::array<uint8_t, 16> a{};
      a[0] = 10;
      a[1] = static_cast<uint8_t>(rng() % 3);
      a[2] = static_cast<uint8_t>(rng() % 4);
      a[3] = static_cast<uint8_t>(rng());
      v4.push_back(a);
      std::array<uint8_t, 16> b{};
      b[0] = 0xfd;
      b[1] = static_cast<uint8_t>(rng() % 2);
      b[7] = static_cast<uint8_t>(rng() % 3);
      b[15] = static_cast<uint8_t>(rng());
      v6.push_back(b);
    }
  }
};

template <typename T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& v) {
  return v[rng() % v.size()];
}

Cidr random_cidr(std::mt19937_64& rng, const Pools& pools, AddressFamily family) {
  Cidr c;
  c.family = family;
  const bool v4 = family == AddressFamily::kIPv4;
  const unsigned max = v4 ? 32 : 128;
  // Favour a few typical lengths, sometimes any length.
  static constexpr std::array<unsigned, 7> kV4 = {0, 8, 16, 22, 24, 31, 32};
  static constexpr std::array<unsigned, 7> kV6 = {0, 8, 16, 64, 120, 127, 128};
  unsigned length = v4 ? kV4[rng() % 7] : kV6[rng() % 7];
  if (rng() % 4 == 0) length = static_cast<unsigned>(rng() % (max + 1));
  c.prefix_length = static_cast<uint8_t>(length);
  const auto& address = v4 ? pick(rng, pools.v4) : pick(rng, pools.v6);
  // Mask to the prefix (as the parser clears host bits).
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bit = i * 8;
    if (c.prefix_length >= bit + 8) {
      c.address[i] = address[i];
    } else if (c.prefix_length > bit) {
      c.address[i] = address[i] & static_cast<uint8_t>(0xff00u >> (c.prefix_length - bit));
    }
  }
  return c;
}

Filter random_filter(std::mt19937_64& rng, const Pools& pools) {
  Filter f;
  const int family = static_cast<int>(rng() % 3);
  if (family != 0) {
    const AddressFamily af = family == 1 ? AddressFamily::kIPv4 : AddressFamily::kIPv6;
    // Each side may still be "any" within a family-restricted filter.
    if (rng() % 3 != 0) f.source = random_cidr(rng, pools, af);
    if (rng() % 3 != 0 || f.source.family == AddressFamily::kAny) {
      f.destination = random_cidr(rng, pools, af);
    }
  }
  f.protocol = pick(rng, pools.protocols);
  if (rng() % 3 == 0) f.source_port = pick(rng, pools.ports);
  if (rng() % 2 == 0) f.destination_port = pick(rng, pools.ports);
  return f;
}

PacketInfo random_packet(std::mt19937_64& rng, const Pools& pools) {
  PacketInfo p;
  const int kind = static_cast<int>(rng() % 10);
  if (kind == 0) return p;  // not IP
  p.ip_version = kind <= 5 ? 4 : 6;
  const auto& addresses = p.ip_version == 4 ? pools.v4 : pools.v6;
  p.source = pick(rng, addresses);
  p.destination = pick(rng, addresses);
  // Perturb a low bit now and then so /31, /127 and friends see both sides.
  if (rng() % 4 == 0)
    p.source[p.ip_version == 4 ? 3 : 15] ^= static_cast<uint8_t>(1u << (rng() % 8));
  if (rng() % 4 == 0)
    p.destination[p.ip_version == 4 ? 2 : 7] ^= static_cast<uint8_t>(1u << (rng() % 8));
  p.has_protocol = rng() % 8 != 0;
  if (p.has_protocol) {
    p.protocol = pick(rng, pools.packet_protocols);
    p.has_ports = (p.protocol == 6 || p.protocol == 17 || p.protocol == 132) && rng() % 6 != 0;
    if (p.has_ports) {
      p.source_port = rng() % 5 == 0 ? static_cast<uint16_t>(rng()) : pick(rng, pools.ports);
      p.destination_port = rng() % 5 == 0 ? static_cast<uint16_t>(rng()) : pick(rng, pools.ports);
    }
  }
  return p;
}

TEST(Classifier, EmptyMatchesNothing) {
  Classifier empty;
  PacketInfo p;
  EXPECT_FALSE(any_rule(empty.classify(p)));
  Classifier none(std::span<const ClassifierRule>{});
  EXPECT_FALSE(any_rule(none.classify(p)));
}

TEST(Classifier, NonIpMatchesOnlyFullWildcards) {
  std::vector<ClassifierRule> rules = {
      {0, Filter{}},
      {1, *parse_filter("0.0.0.0/0 0 any 0 ANY")},
      {2, *parse_filter("any 0 any 0 TCP")},
      {3, *parse_filter("any 0 any 53 ANY")},
  };
  Classifier c(rules);
  RuleMask m = c.classify(PacketInfo{});
  EXPECT_TRUE(has_rule(m, 0));
  EXPECT_EQ(count_rules(m), 1);
}

TEST(Classifier, LongestPrefixIncludesShorterRules) {
  std::vector<ClassifierRule> rules = {
      {5, *parse_filter("10.0.0.0/8 0 any 0 ANY")},
      {6, *parse_filter("10.1.0.0/16 0 any 0 ANY")},
      {7, *parse_filter("10.1.2.3 0 any 0 ANY")},
      {200, *parse_filter("10.2.0.0/16 0 any 0 ANY")},
  };
  Classifier c(rules);
  PacketInfo p;
  p.ip_version = 4;
  p.source = {10, 1, 2, 3};
  RuleMask m = c.classify(p);
  EXPECT_TRUE(has_rule(m, 5));
  EXPECT_TRUE(has_rule(m, 6));
  EXPECT_TRUE(has_rule(m, 7));
  EXPECT_FALSE(has_rule(m, 200));
  p.source = {10, 1, 9, 9};
  m = c.classify(p);
  EXPECT_TRUE(has_rule(m, 5) && has_rule(m, 6) && !has_rule(m, 7));
  p.source = {11, 1, 2, 3};
  EXPECT_FALSE(any_rule(c.classify(p)));
}

// The classifier must answer exactly what matches() answers, rule by rule.
TEST(Classifier, AgreesWithMatchesOnRandomRulesAndPackets) {
  std::mt19937_64 rng(20261122);
  Pools pools(rng);
  uint64_t pairs = 0, matched_pairs = 0;
  for (int round = 0; round < 300; ++round) {
    const size_t rule_count = 1 + rng() % 64;
    std::vector<ClassifierRule> rules;
    std::vector<bool> used(RECORDER_MAX_RULES);
    while (rules.size() < rule_count) {
      const auto slot = static_cast<uint16_t>(rng() % RECORDER_MAX_RULES);
      if (used[slot]) continue;
      used[slot] = true;
      rules.push_back({slot, random_filter(rng, pools)});
    }
    Classifier classifier(rules);
    for (int i = 0; i < 200; ++i) {
      const PacketInfo packet = random_packet(rng, pools);
      RuleMask expected{};
      for (const auto& rule : rules) {
        if (matches(rule.filter, packet)) set_rule(expected, rule.slot);
      }
      const RuleMask got = classifier.classify(packet);
      pairs += rules.size();
      matched_pairs += static_cast<uint64_t>(count_rules(expected));
      if (!same_rules(got, expected)) {
        for (const auto& rule : rules) {
          ASSERT_EQ(has_rule(got, rule.slot), has_rule(expected, rule.slot))
              << "rule " << to_string(rule.filter) << " slot " << rule.slot << ", packet v"
              << int(packet.ip_version) << " proto " << int(packet.protocol) << " ports "
              << packet.source_port << "->" << packet.destination_port;
        }
        FAIL() << "a bit outside the rules is set";
      }
    }
  }
  EXPECT_GE(pairs, 100000u);
  // Enough matches that agreement means something (about 4% of the pairs with this seed).
  EXPECT_GE(matched_pairs, 20000u);
  EXPECT_GE(matched_pairs * 50, pairs) << matched_pairs << " of " << pairs;
  std::cout << "classifier agreement: " << pairs << " rule/packet pairs, " << matched_pairs
            << " matches\n";
}

// The same agreement through the decoder, on real frames.
TEST(Classifier, AgreesWithMatchesOnDecodedFrames) {
  std::vector<ClassifierRule> rules = {
      {0, *parse_filter("10.0.0.0/8 0 any 0 ANY")}, {1, *parse_filter("any 0 10.0.0.2 80 TCP")},
      {2, *parse_filter("fd00::/16 0 any 0 UDP")},  {3, *parse_filter("any 0 any 0 ICMPv6")},
      {4, *parse_filter("any 0 any 0 ANY")},        {5, *parse_filter("any 1000 any 0 SCTP")},
  };
  Classifier classifier(rules);
  const std::vector<test::PacketSpec> specs = {
      {.protocol = IPPROTO_TCP, .destination_port = 80},
      {.vlans = {{0x8100, 5}}, .protocol = IPPROTO_UDP},
      {.source = "fd00::1", .destination = "fd00::2", .protocol = IPPROTO_UDP},
      {.source = "fd00::1", .destination = "fd00::2", .protocol = IPPROTO_ICMPV6},
      {.source = "192.168.0.1", .destination = "192.168.0.2", .protocol = IPPROTO_SCTP},
      {.protocol = IPPROTO_TCP, .destination_port = 80, .fragment_offset = 3},
  };
  for (const auto& spec : specs) {
    const auto bytes = test::build_packet(spec);
    const PacketInfo info = decode_packet(bytes, LinkType::kEthernet);
    RuleMask expected{};
    for (const auto& rule : rules) {
      if (matches(rule.filter, info)) set_rule(expected, rule.slot);
    }
    EXPECT_TRUE(same_rules(classifier.classify(info), expected));
    EXPECT_TRUE(has_rule(expected, 4));
  }
}

}  // namespace
}  // namespace recorder
