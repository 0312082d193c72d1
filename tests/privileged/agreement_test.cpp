// Agreement: the kernel's classification (the rule bits of the emitted sample; no sample means
// no match) must equal the user-space definition, matches() from src/dispatch/filter.h applied
// to decode_packet(), on many random packet/rule combinations. The capture length must be the
// largest snap length among the matched rules (or the packet length). Packets come from the
// shared builder (tests/support/packet_builder.h) and run through the real tc program with
// BPF_PROG_TEST_RUN.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <random>
#include <set>

#include "bpf_harness.h"
#include "datapath/rule_compiler.h"
#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "packet_builder.h"
#include "privileged.h"

namespace recorder {
namespace {

constexpr int kRuleSets = 40;
constexpr int kPacketsPerSet = 260;  // 40 * 260 = 10,400 combinations per transport

const char* const kV4[] = {"10.0.0.1", "10.0.0.2",    "10.0.1.7",
                           "10.1.2.3", "192.168.1.1", "192.168.1.200"};
const char* const kV6[] = {"fd00::1", "fd00::2", "fd00:0:0:1::5", "fd01::9", "2001:db8::1"};
const uint16_t kPorts[] = {53, 80, 443, 1000, 2000, 8080};
const uint8_t kProtocols[] = {6, 17, 132, 1, 58, 47};

class Agreement : public ::testing::TestWithParam<datapath::BpfTransport> {};

TEST_P(Agreement, KernelRuleBitsEqualUserSpaceMatches) {
  RECORDER_REQUIRE_ROOT();
  testing::BpfHarness harness(GetParam());
  ASSERT_TRUE(harness.ok()) << harness.error();
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  auto pick = [&](auto& array) {
    return array[std::uniform_int_distribution<size_t>(0, std::size(array) - 1)(rng)];
  };
  auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
  // A valid Cidr has no host bits set below the prefix (parse_cidr clears them).
  auto clear_host_bits = [](Cidr c) {
    for (unsigned bit = c.prefix_length; bit < 128; ++bit) {
      c.address[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    }
    return c;
  };
  // Usually a few common lengths (at most 8 distinct per dimension: the kernel's exact-match
  // hash path); in some sets any length, which gives more than 8 distinct lengths with many
  // rules (the kernel's trie path).
  bool any_length = false;
  auto random_cidr = [&](AddressFamily family) -> Cidr {
    if (family == AddressFamily::kIPv4) {
      static const int kLengths[] = {0, 1, 8, 16, 24, 31, 32};
      auto c = parse_cidr(std::string(pick(kV4)) + "/32");
      c->prefix_length = static_cast<uint8_t>(
          any_length ? std::uniform_int_distribution<int>(0, 32)(rng) : pick(kLengths));
      return clear_host_bits(*c);
    }
    static const int kLengths[] = {0, 1, 16, 32, 48, 64, 127, 128};
    auto c = parse_cidr(std::string(pick(kV6)) + "/128");
    c->prefix_length = static_cast<uint8_t>(
        any_length ? std::uniform_int_distribution<int>(0, 128)(rng) : pick(kLengths));
    return clear_host_bits(*c);
  };

  // Packet addresses: usually from the pools, sometimes a pool address with random bits after
  // a random position, so that many addresses share the first bits of a rule prefix (the
  // prefilter's L) without being inside it.
  auto packet_address = [&](bool v6) -> std::string {
    const char* base = v6 ? pick(kV6) : pick(kV4);
    if (!chance(0.3)) return base;
    std::array<uint8_t, 16> a{};
    const int family = v6 ? AF_INET6 : AF_INET;
    inet_pton(family, base, a.data());
    const int bits = v6 ? 128 : 32;
    for (int bit = std::uniform_int_distribution<int>(0, bits)(rng); bit < bits; ++bit) {
      if (chance(0.5)) a[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
    }
    char text[INET6_ADDRSTRLEN];
    return inet_ntop(family, a.data(), text, sizeof(text));
  };

  // How often the address prefilter (recorder_abi.h) rejects a packet's address, and how often
  // it lets one through to the trie, in a dimension that has a non-zero prefix (from the
  // user-space image of the same rules): both paths must be well covered.
  int prefilter_rejected = 0, prefilter_passed = 0;
  int compared = 0, matched_packets = 0, incomplete_packets = 0;
  for (int set = 0; set < kRuleSets; ++set) {
    // Rules: sometimes all 256 slots, usually a few, in random slots.
    const int count =
        chance(0.1) ? RECORDER_MAX_RULES : std::uniform_int_distribution<int>(1, 24)(rng);
    any_length = chance(0.3);
    std::vector<uint16_t> slots(RECORDER_MAX_RULES);
    for (int i = 0; i < RECORDER_MAX_RULES; ++i) slots[i] = static_cast<uint16_t>(i);
    std::shuffle(slots.begin(), slots.end(), rng);
    std::vector<RuleEntry> rules;
    for (int i = 0; i < count; ++i) {
      RuleEntry e;
      e.slot = slots[i];
      e.recording_slot = static_cast<uint16_t>(std::uniform_int_distribution<int>(0, 7)(rng));
      e.recording_id = 100 + e.recording_slot;
      static const uint32_t kSnaps[] = {0, 64, 96, 128, 1500};
      e.snap_length = pick(kSnaps);
      const int family = std::uniform_int_distribution<int>(0, 2)(rng);
      if (family != 0) {
        const auto f = family == 1 ? AddressFamily::kIPv4 : AddressFamily::kIPv6;
        if (chance(0.7)) e.filter.source = random_cidr(f);
        if (chance(0.7) || e.filter.source.family == AddressFamily::kAny) {
          e.filter.destination = random_cidr(f);
        }
      }
      if (chance(0.4)) e.filter.source_port = pick(kPorts);
      if (chance(0.5)) e.filter.destination_port = pick(kPorts);
      static const Protocol kRuleProtocols[] = {Protocol::kAny,   Protocol::kAny,  Protocol::kTcp,
                                                Protocol::kUdp,   Protocol::kSctp, Protocol::kIcmp,
                                                Protocol::kIcmpV6};
      e.filter.protocol = pick(kRuleProtocols);
      rules.push_back(e);
    }
    const uint32_t generation = static_cast<uint32_t>(set) * 7 + 3;
    auto installed = harness.table().install(rules, generation);
    ASSERT_TRUE(installed.ok()) << installed.error().message();
    std::vector<datapath::CompiledRule> compiled;
    for (const auto& r : rules) compiled.push_back({r.slot, datapath::compile_rule(r)});
    const datapath::TableImage image = datapath::build_table(compiled);

    for (int n = 0; n < kPacketsPerSet; ++n) {
      test::PacketSpec spec;
      const bool v6 = chance(0.45);
      spec.source = packet_address(v6);
      spec.destination = packet_address(v6);
      spec.protocol = pick(kProtocols);
      spec.source_port = pick(kPorts);
      spec.destination_port = pick(kPorts);
      spec.payload_length = std::uniform_int_distribution<size_t>(0, 200)(rng);
      spec.raw_ip = chance(0.1);
      if (!spec.raw_ip) {
        const int tags = chance(0.2) ? std::uniform_int_distribution<int>(1, 3)(rng) : 0;
        static const uint16_t kTpids[] = {0x8100, 0x88a8, 0x9100};
        for (int t = 0; t < tags; ++t) spec.vlans.push_back({pick(kTpids), 7});
        if (chance(0.05)) spec.ether_type = 0x0806;  // not IP
      }
      if (v6 && chance(0.2)) {
        static const uint8_t kExt[] = {0, 43, 60, 51, 44};
        const int count_ext = std::uniform_int_distribution<int>(1, 3)(rng);
        for (int e = 0; e < count_ext; ++e) spec.ipv6_extensions.push_back(pick(kExt));
      }
      if (chance(0.1)) {
        spec.more_fragments = chance(0.5);
        spec.fragment_offset = chance(0.5) ? 0 : 100;
      }
      // Beyond the parse limits: a ninth VLAN tag, a ninth IPv6 extension header.
      if (!spec.raw_ip && chance(0.02)) spec.vlans.assign(9, {0x8100, 3});
      if (v6 && chance(0.02)) spec.ipv6_extensions.assign(9, 60);
      std::vector<uint8_t> packet = test::build_packet(spec);
      // Sometimes cut inside the L4 header (the kernel refuses test runs with a cut L3 header).
      if (chance(0.05) && packet.size() > 70)
        packet.resize(packet.size() - spec.payload_length -
                      std::uniform_int_distribution<size_t>(1, 6)(rng));
      const LinkType link = spec.raw_ip ? LinkType::kRaw : LinkType::kEthernet;
      if (packet.size() < 15) continue;

      const PacketInfo info = decode_packet(packet, link);
      const uint64_t unclassified_before = harness.unclassified_packets();
      if (info.ip_version == 4 || info.ip_version == 6) {
        const bool is4 = info.ip_version == 4;
        const unsigned src_dim = is4 ? RECORDER_ADDR_SRC4 : RECORDER_ADDR_SRC6;
        const unsigned dst_dim = is4 ? RECORDER_ADDR_DST4 : RECORDER_ADDR_DST6;
        for (const auto& [dim, address] : {std::pair{src_dim, info.source.data()},
                                           std::pair{dst_dim, info.destination.data()}}) {
          if (image.prefilter_length[dim] == 0) continue;
          ++(datapath::prefilter_passes(image, dim, address) ? prefilter_passed
                                                             : prefilter_rejected);
        }
      }
      std::set<unsigned> expected;
      uint32_t snap = 0;
      for (const auto& r : rules) {
        if (matches(r.filter, info)) {
          expected.insert(r.slot);
          snap = std::max(snap, datapath::compile_rule(r).snap_len);
        }
      }
      auto samples = harness.run(packet, chance(0.5), spec.raw_ip);
      if (harness.last_run_error() != 0) continue;
      // The kernel counts as unclassified exactly what the decoder gives up on.
      ASSERT_EQ(harness.unclassified_packets() - unclassified_before, info.incomplete ? 1u : 0u)
          << "packet " << n << " of rule set " << set << ", len " << packet.size();
      incomplete_packets += info.incomplete ? 1 : 0;
      std::set<unsigned> kernel;
      if (!samples.empty()) {
        ASSERT_EQ(samples.size(), 1u);
        for (unsigned i = 0; i < RECORDER_MAX_RULES; ++i) {
          if (datapath::test_bit(samples[0].hdr.rules, i)) kernel.insert(i);
        }
        EXPECT_EQ(samples[0].hdr.cap_len, std::min<size_t>(snap, packet.size()));
        EXPECT_EQ(samples[0].hdr.orig_len, packet.size());
        EXPECT_EQ(samples[0].hdr.generation, generation);
        ++matched_packets;
      }
      std::string differing;
      for (const auto& r : rules) {
        if (kernel.count(r.slot) != expected.count(r.slot)) {
          differing += " [slot " + std::to_string(r.slot) + ": " + to_string(r.filter) + "]";
        }
      }
      ASSERT_EQ(kernel, expected) << differing << " rule set " << set << ", packet " << n << ": "
                                  << spec.source << " -> " << spec.destination << " proto "
                                  << int(spec.protocol) << " ports " << spec.source_port << "/"
                                  << spec.destination_port << " len " << packet.size();
      ++compared;
    }
  }
  EXPECT_GE(compared, 10000);
  EXPECT_GT(matched_packets, compared / 20);  // the pools make matches common enough
  EXPECT_GT(prefilter_rejected, compared / 10);
  EXPECT_GT(prefilter_passed, compared / 10);
  EXPECT_GT(incomplete_packets, compared / 100);  // the hostile shapes above occur
  std::printf(
      "compared %d packet/rule-set combinations, %d matched, %d incomplete; prefilter: %d "
      "addresses rejected, %d passed to the trie\n",
      compared, matched_packets, incomplete_packets, prefilter_rejected, prefilter_passed);
}

INSTANTIATE_TEST_SUITE_P(Transports, Agreement,
                         ::testing::Values(datapath::BpfTransport::kPerfBuffer,
                                           datapath::BpfTransport::kRingBuffer),
                         testing::TransportName());

}  // namespace
}  // namespace recorder
