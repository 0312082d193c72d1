// The rule compiler's address prefilter (recorder_abi.h): L is the shortest non-zero prefix
// length of a dimension, the bitmap holds exactly the bits of the dimension's non-zero prefixes,
// an address inside any of them always finds its bit set, and when the bit is clear the LPM
// trie's answer is exactly the dimension's wild mask (what the BPF program uses instead).
#include "datapath/rule_compiler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>

namespace recorder::datapath {
namespace {

using Address = std::array<uint8_t, 16>;

// The first `len` bits of `a`, the rest zero (written independently of the compiler's helpers).
Address first_bits(const Address& a, unsigned len) {
  Address out{};
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned from = i * 8;
    if (len >= from + 8) {
      out[i] = a[i];
    } else if (len > from) {
      out[i] = static_cast<uint8_t>(a[i] & (0xff00u >> (len - from)));
    }
  }
  return out;
}

// An address inside prefix (a, len): the prefix's bits, random bits after it.
Address inside(const Address& a, unsigned len, unsigned family, std::mt19937_64& rng) {
  Address out = first_bits(a, len);
  const unsigned bits = family == 4 ? 32 : 128;
  for (unsigned bit = len; bit < bits; ++bit) {
    if (rng() & 1) out[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
  }
  return out;
}

Address random_address(unsigned family, std::mt19937_64& rng) {
  Address a{};
  for (unsigned i = 0; i < (family == 4 ? 4u : 16u); ++i) a[i] = static_cast<uint8_t>(rng());
  return a;
}

// The bit the kernel tests, computed from the definition in recorder_abi.h.
uint32_t expected_bit(const Address& a, unsigned len, unsigned family) {
  const Address m = first_bits(a, len);
  uint64_t hi = 0, lo = 0;
  if (family == 4) {
    uint32_t v;
    std::memcpy(&v, m.data(), 4);
    hi = v;
  } else {
    std::memcpy(&hi, m.data(), 8);
    std::memcpy(&lo, m.data() + 8, 8);
  }
  return recorder_addr_bloom_bit(hi, lo);
}

std::set<uint32_t> bits_of(const recorder_addr_bloom& b) {
  std::set<uint32_t> out;
  for (uint32_t i = 0; i < RECORDER_ADDR_BLOOM_BITS; ++i) {
    if ((b.words[i / 64] >> (i % 64)) & 1u) out.insert(i);
  }
  return out;
}

bool is_source(unsigned dim) { return dim == RECORDER_ADDR_SRC4 || dim == RECORDER_ADDR_SRC6; }

CompiledRule make_rule(uint16_t slot, unsigned family, const Address& src, unsigned src_len,
                       const Address& dst, unsigned dst_len) {
  CompiledRule r;
  r.slot = slot;
  r.rule.family = static_cast<uint8_t>(family);
  const Address s = first_bits(src, src_len), d = first_bits(dst, dst_len);
  std::memcpy(r.rule.src_addr, s.data(), 16);
  std::memcpy(r.rule.dst_addr, d.data(), 16);
  r.rule.src_prefix_len = static_cast<uint8_t>(src_len);
  r.rule.dst_prefix_len = static_cast<uint8_t>(dst_len);
  r.rule.snap_len = 128;
  return r;
}

const uint8_t* prefix_address(const CompiledRule& r, unsigned dim) {
  return is_source(dim) ? r.rule.src_addr : r.rule.dst_addr;
}
unsigned prefix_length(const CompiledRule& r, unsigned dim) {
  return is_source(dim) ? r.rule.src_prefix_len : r.rule.dst_prefix_len;
}

const std::map<Prefix, recorder_rule_mask>& trie(const TableImage& t, unsigned dim) {
  switch (dim) {
    case RECORDER_ADDR_SRC4:
      return t.source4;
    case RECORDER_ADDR_DST4:
      return t.destination4;
    case RECORDER_ADDR_SRC6:
      return t.source6;
    default:
      return t.destination6;
  }
}
const recorder_rule_mask& wild(const TableImage& t, unsigned dim) {
  switch (dim) {
    case RECORDER_ADDR_SRC4:
      return t.masks.wild_src4;
    case RECORDER_ADDR_DST4:
      return t.masks.wild_dst4;
    case RECORDER_ADDR_SRC6:
      return t.masks.wild_src6;
    default:
      return t.masks.wild_dst6;
  }
}

// What the BPF program computes from the trie: any_addr | longest match (or any_addr alone).
recorder_rule_mask trie_answer(const TableImage& t, unsigned dim, const Address& a) {
  const Prefix* best = nullptr;
  const recorder_rule_mask* value = nullptr;
  for (const auto& [p, mask] : trie(t, dim)) {
    if (first_bits(a, p.prefix_length) != p.address) continue;
    if (best == nullptr || p.prefix_length > best->prefix_length) {
      best = &p;
      value = &mask;
    }
  }
  recorder_rule_mask out = t.masks.any_addr;
  if (value != nullptr) {
    for (int i = 0; i < RECORDER_RULE_WORDS; ++i) out.words[i] |= value->words[i];
  }
  return out;
}

bool same(const recorder_rule_mask& a, const recorder_rule_mask& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

// Random rules of both families and family 0, with lengths from `lengths4` / `lengths6`
// (0 included when listed), the addresses from small pools so prefixes nest and overlap.
std::vector<CompiledRule> random_rules(std::mt19937_64& rng, int count,
                                       const std::vector<unsigned>& lengths4,
                                       const std::vector<unsigned>& lengths6) {
  std::vector<Address> pool4, pool6;
  for (int i = 0; i < 8; ++i) {
    pool4.push_back(random_address(4, rng));
    pool6.push_back(random_address(6, rng));
  }
  std::vector<CompiledRule> rules;
  for (int i = 0; i < count; ++i) {
    const unsigned family = std::array<unsigned, 5>{0, 4, 4, 6, 6}[rng() % 5];
    if (family == 0) {
      rules.push_back(make_rule(static_cast<uint16_t>(i), 0, {}, 0, {}, 0));
      continue;
    }
    const auto& pool = family == 4 ? pool4 : pool6;
    const auto& lengths = family == 4 ? lengths4 : lengths6;
    rules.push_back(make_rule(static_cast<uint16_t>(i), family, pool[rng() % pool.size()],
                              lengths[rng() % lengths.size()], pool[rng() % pool.size()],
                              lengths[rng() % lengths.size()]));
  }
  return rules;
}

TEST(RulePrefilter, LengthIsTheShortestNonZeroPrefixOfTheDimension) {
  const Address a4{10, 1, 2, 3}, b4{192, 168, 0, 0};
  const Address a6{0xfd, 0, 0, 0, 0, 0, 0, 1};
  const std::vector<CompiledRule> rules = {
      make_rule(0, 4, a4, 24, b4, 0),   // src4 /24, dst4 /0
      make_rule(1, 4, a4, 0, b4, 16),   // src4 /0, dst4 /16
      make_rule(2, 4, a4, 31, b4, 32),  // src4 /31, dst4 /32
      make_rule(3, 6, a6, 127, a6, 0),  // src6 /127, dst6 /0
      make_rule(4, 6, a6, 64, a6, 0),   // src6 /64
      make_rule(5, 0, {}, 0, {}, 0),    // family 0: no prefix
  };
  const TableImage t = build_table(rules);
  EXPECT_EQ(t.prefilter_length[RECORDER_ADDR_SRC4], 24);
  EXPECT_EQ(t.prefilter_length[RECORDER_ADDR_DST4], 16);
  EXPECT_EQ(t.prefilter_length[RECORDER_ADDR_SRC6], 64);
  EXPECT_EQ(t.prefilter_length[RECORDER_ADDR_DST6], 0);  // only /0: nothing to prefilter
  EXPECT_EQ(bits_of(t.prefilter[RECORDER_ADDR_DST6]).size(), 0u);
  EXPECT_EQ(t.masks.addr_mask[RECORDER_ADDR_DST6].hi, 0u);
  EXPECT_EQ(t.masks.addr_mask[RECORDER_ADDR_DST6].lo, 0u);
  // The masks are the first L bits in the bytes' own order.
  auto mask_bytes = [](const recorder_addr_mask& m, unsigned family) {
    Address out{};
    if (family == 4) {
      const auto v = static_cast<uint32_t>(m.hi);
      std::memcpy(out.data(), &v, 4);
      EXPECT_EQ(m.hi >> 32, 0u);
      EXPECT_EQ(m.lo, 0u);
    } else {
      std::memcpy(out.data(), &m.hi, 8);
      std::memcpy(out.data() + 8, &m.lo, 8);
    }
    return out;
  };
  Address ones;
  ones.fill(0xff);
  EXPECT_EQ(mask_bytes(t.masks.addr_mask[RECORDER_ADDR_SRC4], 4), first_bits(ones, 24));
  EXPECT_EQ(mask_bytes(t.masks.addr_mask[RECORDER_ADDR_DST4], 4), first_bits(ones, 16));
  EXPECT_EQ(mask_bytes(t.masks.addr_mask[RECORDER_ADDR_SRC6], 6), first_bits(ones, 64));
  for (unsigned len : {1u, 7u, 8u, 31u, 32u, 33u, 64u, 65u, 127u, 128u}) {
    EXPECT_EQ(mask_bytes(prefilter_mask(len, 6), 6), first_bits(ones, len)) << len;
    if (len <= 32) {
      EXPECT_EQ(mask_bytes(prefilter_mask(len, 4), 4), first_bits(ones, len)) << len;
    }
  }
  // Empty rule set: every dimension empty.
  const TableImage none = build_table({});
  for (unsigned dim = 0; dim < RECORDER_ADDR_DIMS; ++dim) {
    EXPECT_EQ(none.prefilter_length[dim], 0);
    EXPECT_TRUE(bits_of(none.prefilter[dim]).empty());
  }
}

TEST(RulePrefilter, BitmapHasExactlyTheBitsOfTheRulePrefixes) {
  std::mt19937_64 rng(20240611);
  const std::vector<unsigned> lengths4 = {0, 1, 7, 8, 16, 24, 31, 32};
  const std::vector<unsigned> lengths6 = {0, 1, 7, 31, 32, 48, 64, 127, 128};
  for (int round = 0; round < 200; ++round) {
    const int count = 1 + static_cast<int>(rng() % RECORDER_MAX_RULES);
    const auto rules = random_rules(rng, count, lengths4, lengths6);
    const TableImage t = build_table(rules);
    for (unsigned dim = 0; dim < RECORDER_ADDR_DIMS; ++dim) {
      const unsigned family = prefilter_family(dim);
      unsigned shortest = 0;
      for (const auto& r : rules) {
        if (r.rule.family != family) continue;
        const unsigned len = prefix_length(r, dim);
        if (len != 0 && (shortest == 0 || len < shortest)) shortest = len;
      }
      ASSERT_EQ(t.prefilter_length[dim], shortest) << "dim " << dim;
      std::set<uint32_t> expected;
      for (const auto& r : rules) {
        if (r.rule.family != family || prefix_length(r, dim) == 0) continue;
        Address a{};
        std::memcpy(a.data(), prefix_address(r, dim), 16);
        expected.insert(expected_bit(a, shortest, family));
      }
      ASSERT_EQ(bits_of(t.prefilter[dim]), expected) << "round " << round << " dim " << dim;
    }
  }
}

TEST(RulePrefilter, AnAddressInsideARulePrefixAlwaysPasses) {
  std::mt19937_64 rng(77);
  const std::vector<unsigned> lengths4 = {1, 7, 31, 32};
  const std::vector<unsigned> lengths6 = {1, 7, 31, 32, 64, 127, 128};
  std::vector<unsigned> any4(33), any6(129);
  for (unsigned i = 0; i <= 32; ++i) any4[i] = i;
  for (unsigned i = 0; i <= 128; ++i) any6[i] = i;
  int checked = 0;
  for (int round = 0; round < 300; ++round) {
    const bool any_length = round % 2 == 1;
    const int count = 1 + static_cast<int>(rng() % 64);
    const auto rules =
        random_rules(rng, count, any_length ? any4 : lengths4, any_length ? any6 : lengths6);
    const TableImage t = build_table(rules);
    for (const auto& r : rules) {
      if (r.rule.family == 0) continue;
      for (unsigned dim = 0; dim < RECORDER_ADDR_DIMS; ++dim) {
        if (prefilter_family(dim) != r.rule.family || prefix_length(r, dim) == 0) continue;
        Address p{};
        std::memcpy(p.data(), prefix_address(r, dim), 16);
        for (int n = 0; n < 20; ++n) {
          const Address a = inside(p, prefix_length(r, dim), r.rule.family, rng);
          ASSERT_TRUE(prefilter_passes(t, dim, a.data()))
              << "round " << round << " dim " << dim << " /" << prefix_length(r, dim);
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 100000);
}

// The BPF program replaces the trie lookup by `m &= wild` when the bit is clear: that must be
// exactly the trie's answer (plus any_addr) for every such address.
TEST(RulePrefilter, ClearBitMeansTheTrieWouldAnswerTheWildMask) {
  std::mt19937_64 rng(5);
  const std::vector<unsigned> lengths4 = {0, 1, 7, 16, 24, 31, 32};
  const std::vector<unsigned> lengths6 = {0, 1, 7, 32, 64, 127, 128};
  int rejected = 0, passed = 0;
  for (int round = 0; round < 100; ++round) {
    const auto rules = random_rules(rng, 1 + static_cast<int>(rng() % 32), lengths4, lengths6);
    const TableImage t = build_table(rules);
    for (unsigned dim = 0; dim < RECORDER_ADDR_DIMS; ++dim) {
      const unsigned family = prefilter_family(dim);
      // Addresses near the rule prefixes (inside or one bit off) and random ones.
      std::vector<Address> probes;
      for (const auto& r : rules) {
        if (r.rule.family != family) continue;
        Address p{};
        std::memcpy(p.data(), prefix_address(r, dim), 16);
        const unsigned len = prefix_length(r, dim);
        Address a = inside(p, len, family, rng);
        probes.push_back(a);
        if (len > 0) {
          const unsigned flip = static_cast<unsigned>(rng() % len);
          a[flip / 8] ^= static_cast<uint8_t>(0x80u >> (flip % 8));
          probes.push_back(a);
        }
      }
      for (int n = 0; n < 20; ++n) probes.push_back(random_address(family, rng));
      for (const auto& a : probes) {
        if (prefilter_passes(t, dim, a.data())) {
          ++passed;
          continue;
        }
        ++rejected;
        ASSERT_TRUE(same(trie_answer(t, dim, a), wild(t, dim)))
            << "round " << round << " dim " << dim;
      }
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(passed, 1000);
}

// Pod IPs: 256 host rules; their neighbours (same /16, /64) should nearly all be rejected by the
// bitmap (a set bit is only a hint: this bounds the false-positive rate of the hash on such
// structured addresses, it is not a correctness property).
TEST(RulePrefilter, NeighboursOfHostRulesAreRejected) {
  std::vector<CompiledRule> rules4, rules6;
  for (unsigned i = 0; i < RECORDER_MAX_RULES; ++i) {
    rules4.push_back(make_rule(static_cast<uint16_t>(i), 4, {10, 0, uint8_t(i), 1}, 32, {}, 0));
    Address a6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, uint8_t(i), 0, 1};
    rules6.push_back(make_rule(static_cast<uint16_t>(i), 6, a6, 128, {}, 0));
  }
  const TableImage t4 = build_table(rules4), t6 = build_table(rules6);
  int probes = 0, passed4 = 0, passed6 = 0;
  for (unsigned i = 0; i < 256; ++i) {
    for (unsigned host = 2; host < 256; host += 3) {
      const Address a4{10, 0, uint8_t(i), uint8_t(host)};
      const Address a6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, uint8_t(i), 0, uint8_t(host)};
      passed4 += prefilter_passes(t4, RECORDER_ADDR_SRC4, a4.data());
      passed6 += prefilter_passes(t6, RECORDER_ADDR_SRC6, a6.data());
      ++probes;
    }
    const Address own4{10, 0, uint8_t(i), 1};
    EXPECT_TRUE(prefilter_passes(t4, RECORDER_ADDR_SRC4, own4.data()));
  }
  // 256 of 65536 bits set: about 0.4 % of random addresses pass; allow a few times that.
  EXPECT_LT(passed4, probes / 50) << passed4 << " of " << probes;
  EXPECT_LT(passed6, probes / 50) << passed6 << " of " << probes;
  EXPECT_EQ(bits_of(t4.prefilter[RECORDER_ADDR_SRC4]).size() > 240, true);
}

}  // namespace
}  // namespace recorder::datapath
