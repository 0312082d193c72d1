// BPF_PROG_TEST_RUN fixtures: the real tc programs run on hand-built packets; each fixture
// checks the verdict (always TC_ACT_UNSPEC), whether a sample was emitted, and its header,
// rule bits, capture length and bytes.
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>

#include <vector>

#include "bpf_harness.h"
#include "datapath/rule_compiler.h"
#include "packets.h"
#include "privileged.h"

namespace recorder {
namespace {

using datapath::BpfTransport;
using testing::BpfHarness;
using testing::build_packet;
using testing::ip4;
using testing::ip6;
using testing::PacketSpec;
using testing::Sample;

Cidr cidr(AddressFamily family, std::array<uint8_t, 16> address, uint8_t prefix) {
  Cidr c;
  c.family = family;
  c.address = address;
  c.prefix_length = prefix;
  return c;
}
Cidr v4(const char* a, uint8_t prefix) { return cidr(AddressFamily::kIPv4, ip4(a), prefix); }
Cidr v6(const char* a, uint8_t prefix) { return cidr(AddressFamily::kIPv6, ip6(a), prefix); }

RuleEntry rule(uint16_t slot, Filter f, uint32_t snap = 0, uint16_t recording_slot = 0,
               uint64_t recording_id = 0) {
  RuleEntry e;
  e.slot = slot;
  e.recording_slot = recording_slot;
  e.recording_id = recording_id != 0 ? recording_id : 1000 + recording_slot;
  e.filter = f;
  e.snap_length = snap;
  return e;
}

Filter filter(Cidr src, uint16_t sport, Cidr dst, uint16_t dport, Protocol proto) {
  Filter f;
  f.source = src;
  f.source_port = sport;
  f.destination = dst;
  f.destination_port = dport;
  f.protocol = proto;
  return f;
}

std::vector<unsigned> bits(const recorder_rule_mask& m) {
  std::vector<unsigned> out;
  for (unsigned i = 0; i < RECORDER_MAX_RULES; ++i) {
    if (datapath::test_bit(m, i)) out.push_back(i);
  }
  return out;
}

class ProgTestRun : public ::testing::TestWithParam<BpfTransport> {
 protected:
  void SetUp() override {
    RECORDER_REQUIRE_ROOT();
    harness_ = std::make_unique<BpfHarness>(GetParam());
    ASSERT_TRUE(harness_->ok()) << harness_->error();
  }
  void install(const std::vector<RuleEntry>& rules) {
    auto s = harness_->table().install(rules, ++generation_);
    ASSERT_TRUE(s.ok()) << s.error().message();
  }
  uint32_t generation_ = 0;  // of the last install()
  // Runs and checks the verdict; returns the samples.
  std::vector<Sample> run(const PacketSpec& spec, bool ingress = true) {
    int verdict = 0;
    auto samples = harness_->run(build_packet(spec), ingress, spec.l3, &verdict);
    EXPECT_EQ(harness_->last_run_error(), 0);
    EXPECT_EQ(verdict, TC_ACT_UNSPEC);
    return samples;
  }
  std::vector<unsigned> matched(const PacketSpec& spec) {
    auto samples = run(spec);
    if (samples.empty()) return {};
    EXPECT_EQ(samples.size(), 1u);
    return bits(samples[0].hdr.rules);
  }
  std::unique_ptr<BpfHarness> harness_;
};

const Cidr kAny{};

TEST_P(ProgTestRun, UdpIpv4SampleCarriesHeaderBitsAndBytes) {
  install({rule(3, filter(v4("10.0.0.0", 8), 0, kAny, 2000, Protocol::kUdp), 0, 0),
           rule(7, filter(kAny, 0, kAny, 53, Protocol::kUdp), 0, 1)});
  PacketSpec spec;
  const auto packet = build_packet(spec);
  auto samples = run(spec);
  ASSERT_EQ(samples.size(), 1u);
  const Sample& s = samples[0];
  EXPECT_EQ(bits(s.hdr.rules), std::vector<unsigned>{3});
  EXPECT_EQ(s.hdr.orig_len, packet.size());
  EXPECT_EQ(s.hdr.cap_len, packet.size());
  EXPECT_EQ(s.hdr.direction, RECORDER_DIR_INGRESS);
  EXPECT_EQ(s.hdr.link_type, RECORDER_LINK_ETHERNET);
  EXPECT_EQ(s.hdr.ifindex, 1u);  // test runs happen on the namespace's loopback
  EXPECT_NE(s.hdr.ktime_ns, 0u);
  EXPECT_EQ(s.data, packet);
  // Egress program: same bits, egress direction.
  samples = run(spec, false);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].hdr.direction, RECORDER_DIR_EGRESS);
}

TEST_P(ProgTestRun, NonMatchingPacketsEmitNothing) {
  install({rule(0, filter(v4("192.168.0.0", 16), 0, kAny, 0, Protocol::kAny))});
  PacketSpec spec;  // 10.0.0.1 -> 10.0.0.2
  EXPECT_TRUE(run(spec).empty());
  spec.src = ip4("192.168.4.4");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{0});
  install({});
  EXPECT_TRUE(run(spec).empty());
}

TEST_P(ProgTestRun, EachProtocol) {
  install({rule(0, filter(kAny, 0, kAny, 80, Protocol::kTcp)),
           rule(1, filter(kAny, 0, kAny, 80, Protocol::kUdp)),
           rule(2, filter(kAny, 0, kAny, 80, Protocol::kSctp)),
           rule(3, filter(kAny, 0, kAny, 0, Protocol::kIcmp)),
           rule(4, filter(kAny, 0, kAny, 0, Protocol::kIcmpV6)),
           rule(5, filter(kAny, 0, kAny, 80, Protocol::kAny)),
           rule(6, filter(kAny, 0, kAny, 0, Protocol::kAny))});
  PacketSpec spec;
  spec.dport = 80;
  spec.protocol = 6;
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{0, 5, 6}));
  spec.protocol = 17;
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{1, 5, 6}));
  spec.protocol = 132;
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{2, 5, 6}));
  spec.protocol = 1;  // ICMP has no ports: only port-0 rules
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{3, 6}));
  spec.ip_version = 6;
  spec.src = ip6("fd00::1");
  spec.dst = ip6("fd00::2");
  spec.protocol = 58;
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{4, 6}));
  spec.protocol = 47;  // GRE: protocol known, no ports
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{6}));
  spec.ip_version = 0;  // ARP: only family-any, protocol-any, port-0 rules
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{6}));
}

TEST_P(ProgTestRun, VlanAndQinQ) {
  install({rule(9, filter(v4("10.0.0.1", 32), 1000, v4("10.0.0.2", 32), 2000, Protocol::kUdp))});
  PacketSpec spec;
  spec.vlan_tpids = {0x8100};
  EXPECT_EQ(matched(spec), std::vector<unsigned>{9});
  spec.vlan_tpids = {0x88a8, 0x8100};
  auto samples = run(spec);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].data, build_packet(spec));  // tags are kept in the capture
  spec.vlan_tpids = {0x9100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100};
  EXPECT_EQ(matched(spec), std::vector<unsigned>{9});  // 8 tags: the bound
  spec.vlan_tpids.push_back(0x8100);                   // beyond the bound: not IP
  EXPECT_TRUE(matched(spec).empty());
}

TEST_P(ProgTestRun, Ipv6ExtensionHeaders) {
  install({rule(1, filter(v6("fd00::", 64), 0, kAny, 443, Protocol::kTcp)),
           rule(2, filter(v6("fd00:1::", 32), 0, kAny, 0, Protocol::kAny))});
  PacketSpec spec;
  spec.ip_version = 6;
  spec.src = ip6("fd00::1");
  spec.dst = ip6("fd00::2");
  spec.protocol = 6;
  spec.dport = 443;
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  spec.v6_ext = {0, 43, 60};
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  spec.v6_ext = {0, 51, 60, 43};
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  spec.v6_ext = {0, 43, 60, 43, 60, 43, 60, 60};  // 8: the bound
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  spec.v6_ext.push_back(60);  // more than the parser follows: protocol unknown
  EXPECT_TRUE(matched(spec).empty());
  spec.src = ip6("fd00:1::5");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{2});  // protocol-any, port-0 still matches
}

TEST_P(ProgTestRun, Fragments) {
  install({rule(0, filter(kAny, 0, kAny, 2000, Protocol::kUdp)),
           rule(1, filter(kAny, 0, kAny, 0, Protocol::kUdp))});
  PacketSpec spec;
  spec.more_fragments = true;  // first fragment: has ports
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{0, 1}));
  spec.frag_offset = 185;  // non-first: no ports
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  spec = PacketSpec{};
  spec.ip_version = 6;
  spec.src = ip6("fd00::1");
  spec.dst = ip6("fd00::2");
  spec.v6_ext = {44};
  spec.more_fragments = true;
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{0, 1}));
  spec.frag_offset = 100;
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
}

TEST_P(ProgTestRun, TruncatedPackets) {
  install({rule(0, filter(kAny, 0, kAny, 2000, Protocol::kUdp)),
           rule(1, filter(kAny, 0, kAny, 0, Protocol::kUdp)),
           rule(2, filter(kAny, 0, kAny, 0, Protocol::kAny))});
  PacketSpec spec;
  spec.truncate = 14 + 20 + 3;  // UDP ports cut: protocol known, no ports
  auto samples = run(spec);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(bits(samples[0].hdr.rules), (std::vector<unsigned>{1, 2}));
  EXPECT_EQ(samples[0].hdr.orig_len, 37u);
  EXPECT_EQ(samples[0].hdr.cap_len, 37u);
  // (The kernel refuses to test-run a frame whose IPv4 header is cut, so a malformed header
  // stands in for it: IHL 4 is shorter than the fixed header.)
  spec.truncate = 0;
  auto bad_ihl = build_packet(spec);
  bad_ihl[14] = 0x44;
  samples = harness_->run(bad_ihl);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(bits(samples[0].hdr.rules), std::vector<unsigned>{2});  // not IP
  spec = PacketSpec{};
  spec.ip_version = 6;
  spec.src = ip6("fd00::1");
  spec.dst = ip6("fd00::2");
  spec.v6_ext = {0};
  spec.truncate = 14 + 40 + 4;  // hop-by-hop header cut: protocol unknown
  EXPECT_EQ(matched(spec), std::vector<unsigned>{2});
}

TEST_P(ProgTestRun, L3ProgramsReadRawIp) {
  install({rule(5, filter(kAny, 0, v4("10.0.0.2", 32), 0, Protocol::kUdp))});
  PacketSpec spec;
  spec.l3 = true;
  const auto packet = build_packet(spec);
  auto samples = run(spec);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(bits(samples[0].hdr.rules), std::vector<unsigned>{5});
  EXPECT_EQ(samples[0].hdr.link_type, RECORDER_LINK_RAW);
  EXPECT_EQ(samples[0].data, packet);
  spec.ip_version = 6;
  spec.src = ip6("fd00::1");
  spec.dst = ip6("fd00::2");
  EXPECT_TRUE(run(spec).empty());
}

TEST_P(ProgTestRun, CaptureLengthIsTheLargestSnapOfTheMatchedRules) {
  install({rule(0, filter(kAny, 0, kAny, 0, Protocol::kUdp), 64, 0),
           rule(1, filter(kAny, 0, kAny, 2000, Protocol::kUdp), 100, 1),
           rule(2, filter(kAny, 0, kAny, 9, Protocol::kUdp), 1000, 2)});
  PacketSpec spec;
  spec.payload = 400;
  const auto packet = build_packet(spec);
  auto samples = run(spec);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].hdr.cap_len, 100u);
  EXPECT_EQ(samples[0].hdr.orig_len, packet.size());
  EXPECT_EQ(samples[0].data, std::vector<uint8_t>(packet.begin(), packet.begin() + 100));
  spec.payload = 10;  // shorter than every snap: whole packet
  samples = run(spec);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].hdr.cap_len, build_packet(spec).size());
}

TEST_P(ProgTestRun, CountersOncePerRecordingOnItsLowestRule) {
  // Recording slot 0 owns rules 4 and 9; recording slot 1 owns rule 6.
  install({rule(9, filter(kAny, 0, kAny, 0, Protocol::kUdp), 0, 0),
           rule(4, filter(kAny, 0, kAny, 2000, Protocol::kUdp), 0, 0),
           rule(6, filter(kAny, 0, kAny, 0, Protocol::kAny), 0, 1)});
  PacketSpec spec;
  const size_t len = build_packet(spec).size();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(run(spec).size(), 1u);
  auto c4 = harness_->table().read_counters(4);
  auto c9 = harness_->table().read_counters(9);
  auto c6 = harness_->table().read_counters(6);
  ASSERT_TRUE(c4 && c9 && c6);
  EXPECT_EQ(c4->matched_packets, 3u);
  EXPECT_EQ(c4->matched_bytes, 3 * len);
  EXPECT_EQ(c9->matched_packets, 0u);
  EXPECT_EQ(c6->matched_packets, 3u);
  EXPECT_EQ(c4->emit_fail_packets, 0u);
  EXPECT_TRUE(harness_->table().take_losses().size() <= 2);
}

TEST_P(ProgTestRun, ManyRulesAllSlots) {
  // 256 rules, one per destination port 1..256, each its own recording.
  std::vector<RuleEntry> rules;
  for (uint16_t slot = 0; slot < RECORDER_MAX_RULES; ++slot) {
    rules.push_back(rule(slot, filter(kAny, 0, kAny, slot + 1, Protocol::kUdp), 0, slot));
  }
  install(rules);
  PacketSpec spec;
  for (unsigned slot : {0u, 63u, 64u, 200u, 255u}) {
    spec.dport = static_cast<uint16_t>(slot + 1);
    EXPECT_EQ(matched(spec), std::vector<unsigned>{slot});
  }
  spec.dport = 999;
  EXPECT_TRUE(matched(spec).empty());
}

TEST_P(ProgTestRun, RuleUpdatesFlipTheActiveSet) {
  const uint32_t first = harness_->table().active_set();
  install({rule(0, filter(kAny, 0, kAny, 2000, Protocol::kUdp))});
  EXPECT_NE(harness_->table().active_set(), first);
  PacketSpec spec;
  EXPECT_EQ(matched(spec), std::vector<unsigned>{0});
  install({rule(1, filter(kAny, 0, kAny, 3000, Protocol::kUdp))});
  EXPECT_TRUE(matched(spec).empty());
  spec.dport = 3000;
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  install({rule(0, filter(kAny, 0, kAny, 2000, Protocol::kUdp))});  // old set reused cleanly
  EXPECT_TRUE(matched(spec).empty());
}

// The address prefilter (recorder_abi.h). Each case first checks with the user-space image of
// the same rules (the rule compiler is what the RuleTable installs) which way the program's
// prefilter goes for the packet's addresses, so the case really covers that path.
datapath::TableImage image_of(const std::vector<RuleEntry>& rules) {
  std::vector<datapath::CompiledRule> compiled;
  for (const auto& e : rules) compiled.push_back({e.slot, datapath::compile_rule(e)});
  return datapath::build_table(compiled);
}
bool passes(const datapath::TableImage& t, unsigned dim, const std::array<uint8_t, 16>& a) {
  return datapath::prefilter_passes(t, dim, a.data());
}

// The prefilter of `rules` turns both of the packet's addresses away, so the test exercises the
// prefilter's path and not the trie's.
::testing::AssertionResult prefilter_rejects_both(const std::vector<RuleEntry>& rules,
                                                  const PacketSpec& spec) {
  const auto t = image_of(rules);
  const bool v6 = spec.ip_version == 6;
  if (passes(t, v6 ? RECORDER_ADDR_SRC6 : RECORDER_ADDR_SRC4, spec.src)) {
    return ::testing::AssertionFailure() << "the source address passes the prefilter";
  }
  if (passes(t, v6 ? RECORDER_ADDR_DST6 : RECORDER_ADDR_DST4, spec.dst)) {
    return ::testing::AssertionFailure() << "the destination address passes the prefilter";
  }
  return ::testing::AssertionSuccess();
}

TEST_P(ProgTestRun, PrefilterRejectsIpv4AddressesOutsideEveryPrefix) {
  std::vector<RuleEntry> rules = {
      rule(0, filter(v4("10.0.1.1", 32), 0, kAny, 0, Protocol::kAny)),
      rule(1, filter(v4("10.0.2.0", 24), 0, kAny, 0, Protocol::kAny)),
      rule(2, filter(kAny, 0, v4("192.168.0.0", 16), 0, Protocol::kAny))};
  install(rules);
  PacketSpec spec;
  spec.src = ip4("10.9.9.9");
  spec.dst = ip4("172.16.0.1");
  ASSERT_TRUE(prefilter_rejects_both(rules, spec));
  // No /0 rule of the family: nothing is left once the prefilter rejects an address.
  EXPECT_TRUE(run(spec).empty());
  spec.src = ip4("10.0.2.77");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  spec.src = ip4("10.9.9.9");
  spec.dst = ip4("192.168.3.3");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{2});

  // With /0 rules of the same family (3: source, 4: destination), a family-0 rule (5) and a
  // rule of the other family (6): a rejected address leaves exactly the dimension's wild rules.
  rules.push_back(rule(3, filter(v4("0.0.0.0", 0), 0, kAny, 0, Protocol::kAny)));
  rules.push_back(rule(4, filter(kAny, 0, v4("0.0.0.0", 0), 0, Protocol::kUdp)));
  rules.push_back(rule(5, filter(kAny, 0, kAny, 2000, Protocol::kUdp)));
  rules.push_back(rule(6, filter(v6("fd00::", 8), 0, kAny, 0, Protocol::kAny)));
  install(rules);
  spec.dst = ip4("172.16.0.1");
  ASSERT_TRUE(prefilter_rejects_both(rules, spec));
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{3, 4, 5}));
  spec.protocol = 6;
  EXPECT_EQ(matched(spec), std::vector<unsigned>{3});
  spec.protocol = 17;
  spec.src = ip4("10.0.1.1");
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{0, 3, 4, 5}));
}

TEST_P(ProgTestRun, PrefilterRejectsIpv6AddressesOutsideEveryPrefix) {
  std::vector<RuleEntry> rules = {
      rule(0, filter(v6("fd00:1::", 32), 0, kAny, 0, Protocol::kAny)),
      rule(1, filter(v6("fd00:2::5", 128), 0, kAny, 0, Protocol::kAny)),
      rule(2, filter(kAny, 0, v6("2001:db8::", 48), 0, Protocol::kAny))};
  install(rules);
  PacketSpec spec;
  spec.ip_version = 6;
  spec.src = ip6("fd00:9::1");
  spec.dst = ip6("2001:db9::1");
  ASSERT_TRUE(prefilter_rejects_both(rules, spec));
  EXPECT_TRUE(run(spec).empty());
  spec.src = ip6("fd00:2::5");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  spec.src = ip6("fd00:1:ffff::1");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{0});
  spec.src = ip6("fd00:9::1");
  spec.dst = ip6("2001:db8:0:1::1");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{2});

  rules.push_back(rule(3, filter(v6("::", 0), 0, kAny, 0, Protocol::kAny)));
  rules.push_back(rule(4, filter(kAny, 0, v6("::", 0), 0, Protocol::kUdp)));
  rules.push_back(rule(5, filter(kAny, 0, kAny, 2000, Protocol::kUdp)));
  rules.push_back(rule(6, filter(v4("10.0.0.0", 8), 0, kAny, 0, Protocol::kAny)));
  install(rules);
  spec.dst = ip6("2001:db9::1");
  ASSERT_TRUE(prefilter_rejects_both(rules, spec));
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{3, 4, 5}));
  spec.protocol = 6;
  EXPECT_EQ(matched(spec), std::vector<unsigned>{3});
  spec.protocol = 17;
  spec.src = ip6("fd00:2::5");
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{1, 3, 4, 5}));
}

// A set bit only lets the address through: the trie still decides, whether the bit belongs to a
// shorter prefix that contains the address or to another prefix altogether (hash collision).
TEST_P(ProgTestRun, PrefilterBitSetButTheTrieDecides) {
  std::vector<RuleEntry> rules = {rule(0, filter(v4("10.0.0.0", 8), 0, kAny, 0, Protocol::kAny)),
                                  rule(1, filter(v4("10.1.2.3", 32), 0, kAny, 0, Protocol::kAny))};
  install(rules);
  PacketSpec spec;
  spec.src = ip4("10.1.2.4");  // L = 8: the same bit as 10.1.2.3/32, which does not contain it
  ASSERT_TRUE(passes(image_of(rules), RECORDER_ADDR_SRC4, spec.src));
  EXPECT_EQ(matched(spec), std::vector<unsigned>{0});
  spec.src = ip4("10.1.2.3");
  EXPECT_EQ(matched(spec), (std::vector<unsigned>{0, 1}));

  // 256 host rules (L = 32): find neighbours whose bit another host set.
  rules.clear();
  for (uint16_t i = 0; i < RECORDER_MAX_RULES; ++i) {
    auto a = ip4("10.0.0.1");
    a[2] = static_cast<uint8_t>(i);
    rules.push_back(rule(i, filter(cidr(AddressFamily::kIPv4, a, 32), 0, kAny, 0, Protocol::kAny)));
  }
  install(rules);
  auto t = image_of(rules);
  int collisions = 0;
  for (unsigned j = 0; j < 256 && collisions < 5; ++j) {
    for (unsigned k = 2; k < 256 && collisions < 5; ++k) {
      auto a = ip4("10.0.0.0");
      a[2] = static_cast<uint8_t>(j);
      a[3] = static_cast<uint8_t>(k);
      if (!passes(t, RECORDER_ADDR_SRC4, a)) continue;
      spec.src = a;
      EXPECT_TRUE(run(spec).empty()) << "10.0." << j << "." << k;
      ++collisions;
    }
  }
  EXPECT_EQ(collisions, 5);
  spec.src = ip4("10.0.200.1");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{200});

  // The same with IPv6 host rules (L = 128).
  rules.clear();
  for (uint16_t i = 0; i < RECORDER_MAX_RULES; ++i) {
    auto a = ip6("fd00::1");
    a[13] = static_cast<uint8_t>(i);
    rules.push_back(
        rule(i, filter(cidr(AddressFamily::kIPv6, a, 128), 0, kAny, 0, Protocol::kAny)));
  }
  install(rules);
  t = image_of(rules);
  spec.ip_version = 6;
  spec.dst = ip6("fd00::ffff:2");
  collisions = 0;
  for (unsigned j = 0; j < 256 && collisions < 5; ++j) {
    for (unsigned k = 2; k < 256 && collisions < 5; ++k) {
      auto a = ip6("fd00::");
      a[13] = static_cast<uint8_t>(j);
      a[15] = static_cast<uint8_t>(k);
      if (!passes(t, RECORDER_ADDR_SRC6, a)) continue;
      spec.src = a;
      EXPECT_TRUE(run(spec).empty()) << "fd00::" << j << ":" << k;
      ++collisions;
    }
  }
  EXPECT_EQ(collisions, 5);
  spec.src = ip6("fd00::c8:1");  // byte 13 = 200 (0xc8): rule 200
  EXPECT_EQ(matched(spec), std::vector<unsigned>{200});
}

// Each install rewrites the inactive set's bitmaps and masks whole: a stale bitmap or L of the
// set's previous rules would reject addresses the new prefixes contain.
TEST_P(ProgTestRun, PrefilterFollowsRuleUpdates) {
  PacketSpec spec;
  install({rule(0, filter(v4("10.0.1.1", 32), 0, kAny, 0, Protocol::kAny))});
  spec.src = ip4("10.0.1.1");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{0});
  install({rule(1, filter(v4("10.0.2.1", 32), 0, kAny, 0, Protocol::kAny))});
  EXPECT_TRUE(matched(spec).empty());
  spec.src = ip4("10.0.2.1");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{1});
  // Back into the first set, now with L = 24.
  install({rule(2, filter(v4("10.0.1.0", 24), 0, kAny, 0, Protocol::kAny))});
  EXPECT_TRUE(matched(spec).empty());
  spec.src = ip4("10.0.1.77");
  EXPECT_EQ(matched(spec), std::vector<unsigned>{2});
  // And a destination-only set: the source bitmaps are empty again.
  install({rule(3, filter(kAny, 0, v4("10.0.0.2", 32), 0, Protocol::kAny))});
  EXPECT_EQ(matched(spec), std::vector<unsigned>{3});  // dst 10.0.0.2
  spec.dst = ip4("10.0.0.3");
  EXPECT_TRUE(matched(spec).empty());
}

INSTANTIATE_TEST_SUITE_P(Transports, ProgTestRun,
                         ::testing::Values(BpfTransport::kPerfBuffer, BpfTransport::kRingBuffer),
                         testing::TransportName());

TEST(ProgTestRunLoss, FailedEmissionsAreCountedPerRecording) {
  RECORDER_REQUIRE_ROOT();
  // No perf reader: the perf event array is empty, so every emission fails.
  BpfHarness harness(BpfTransport::kPerfBuffer, /*with_reader=*/false);
  ASSERT_TRUE(harness.ok()) << harness.error();
  ASSERT_TRUE(
      harness.table()
          .install(
              std::vector<RuleEntry>{rule(2, filter(kAny, 0, kAny, 0, Protocol::kUdp), 0, 0, 77),
                                     rule(3, filter(kAny, 0, kAny, 2000, Protocol::kUdp), 0, 0, 77),
                                     rule(5, filter(kAny, 0, kAny, 0, Protocol::kAny), 0, 1, 88)},
              1)
          .ok());
  PacketSpec spec;
  const size_t len = build_packet(spec).size();
  harness.run(build_packet(spec), true, false, nullptr, 5);
  auto losses = harness.table().take_losses();
  EXPECT_EQ(losses[77].emit_fail_packets, 5u);
  EXPECT_EQ(losses[77].emit_fail_bytes, 5 * len);
  EXPECT_EQ(losses[88].emit_fail_packets, 5u);
  // Taken: the next call reports nothing new.
  auto again = harness.table().take_losses();
  EXPECT_EQ(again[77].emit_fail_packets, 0u);
  // Losses of a removed rule are still reported after its removal.
  harness.run(build_packet(spec), true, false, nullptr, 2);
  ASSERT_TRUE(harness.table().install(std::vector<RuleEntry>{}, 2).ok());
  auto removed = harness.table().take_losses();
  EXPECT_EQ(removed[77].emit_fail_packets, 2u);
  EXPECT_EQ(removed[88].emit_fail_packets, 2u);
}

}  // namespace
}  // namespace recorder
