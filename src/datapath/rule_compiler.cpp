#include "datapath/rule_compiler.h"

#include <algorithm>
#include <cstring>

namespace recorder::datapath {
namespace {

std::array<uint8_t, 16> masked(const uint8_t* address, unsigned prefix_length) {
  std::array<uint8_t, 16> out{};
  for (unsigned bit = 0; bit < prefix_length; ++bit) {
    if (address[bit / 8] & (0x80u >> (bit % 8))) out[bit / 8] |= 0x80u >> (bit % 8);
  }
  return out;
}

// Does prefix `outer` contain prefix `inner`?
bool contains(const Prefix& outer, const Prefix& inner) {
  if (outer.prefix_length > inner.prefix_length) return false;
  return masked(inner.address.data(), outer.prefix_length) == outer.address;
}

// Fills one LPM dimension: one entry per distinct rule prefix, whose value is the OR of the
// masks of every rule whose prefix contains it, so the longest match is the exact answer.
void build_lpm(std::span<const CompiledRule> rules, uint8_t family, bool source,
               std::map<Prefix, recorder_rule_mask>& out) {
  std::vector<std::pair<Prefix, uint16_t>> prefixes;
  for (const auto& r : rules) {
    if (r.rule.family != family) continue;
    Prefix p;
    p.prefix_length = source ? r.rule.src_prefix_len : r.rule.dst_prefix_len;
    p.address = masked(source ? r.rule.src_addr : r.rule.dst_addr, p.prefix_length);
    prefixes.emplace_back(p, r.slot);
  }
  for (const auto& [p, slot] : prefixes) out.try_emplace(p);
  for (auto& [entry, mask] : out) {
    for (const auto& [p, slot] : prefixes) {
      if (contains(p, entry)) set_bit(mask, slot);
    }
  }
}

// Fills one prefilter dimension (recorder_abi.h): L is the shortest non-zero prefix length of
// the dimension's rules of `family`; each non-zero prefix sets the bit of its first L bits.
// /0 prefixes are left out: they contain every address and are in the wild mask already.
void build_prefilter(std::span<const CompiledRule> rules, unsigned dim, TableImage& t) {
  const unsigned family = prefilter_family(dim);
  const bool source = dim == RECORDER_ADDR_SRC4 || dim == RECORDER_ADDR_SRC6;
  const unsigned max_len = family == 4 ? 32 : 128;
  unsigned shortest = 0;
  for (const auto& r : rules) {
    if (r.rule.family != family) continue;
    const unsigned len =
        std::min<unsigned>(source ? r.rule.src_prefix_len : r.rule.dst_prefix_len, max_len);
    if (len != 0 && (shortest == 0 || len < shortest)) shortest = len;
  }
  t.prefilter_length[dim] = static_cast<uint8_t>(shortest);
  t.prefilter[dim] = {};
  t.masks.addr_mask[dim] = prefilter_mask(shortest, family);
  if (shortest == 0) return;  // no non-zero prefix: every address skips the trie
  for (const auto& r : rules) {
    if (r.rule.family != family) continue;
    if ((source ? r.rule.src_prefix_len : r.rule.dst_prefix_len) == 0) continue;
    const uint32_t bit =
        prefilter_bit(t.masks.addr_mask[dim], source ? r.rule.src_addr : r.rule.dst_addr, family);
    t.prefilter[dim].words[bit / 64] |= uint64_t{1} << (bit % 64);
  }
}

}  // namespace

AddressWords address_words(const uint8_t* address, unsigned family) {
  AddressWords w;
  if (family == 4) {
    uint32_t v;
    std::memcpy(&v, address, 4);
    w.hi = v;
  } else {
    std::memcpy(&w.hi, address, 8);
    std::memcpy(&w.lo, address + 8, 8);
  }
  return w;
}

recorder_addr_mask prefilter_mask(unsigned prefix_length, unsigned family) {
  std::array<uint8_t, 16> ones;
  ones.fill(0xff);
  const auto bytes = masked(ones.data(), std::min(prefix_length, family == 4 ? 32u : 128u));
  const AddressWords w = address_words(bytes.data(), family);
  return {w.hi, w.lo};
}

uint32_t prefilter_bit(const recorder_addr_mask& mask, const uint8_t* address, unsigned family) {
  const AddressWords w = address_words(address, family);
  return recorder_addr_bloom_bit(w.hi & mask.hi, w.lo & mask.lo);
}

bool prefilter_passes(const TableImage& image, unsigned dim, const uint8_t* address) {
  const uint32_t bit = prefilter_bit(image.masks.addr_mask[dim], address, prefilter_family(dim));
  return (image.prefilter[dim].words[bit / 64] >> (bit % 64)) & 1u;
}

recorder_rule compile_rule(const RuleEntry& entry) {
  recorder_rule rule{};
  const Filter& f = entry.filter;
  const AddressFamily family =
      f.source.family != AddressFamily::kAny ? f.source.family : f.destination.family;
  rule.family = static_cast<uint8_t>(family);
  const unsigned max_len = family == AddressFamily::kIPv4 ? 32 : 128;
  if (f.source.family != AddressFamily::kAny) {
    rule.src_prefix_len = std::min<unsigned>(f.source.prefix_length, max_len);
    auto a = masked(f.source.address.data(), rule.src_prefix_len);
    std::memcpy(rule.src_addr, a.data(), 16);
  }
  if (f.destination.family != AddressFamily::kAny) {
    rule.dst_prefix_len = std::min<unsigned>(f.destination.prefix_length, max_len);
    auto a = masked(f.destination.address.data(), rule.dst_prefix_len);
    std::memcpy(rule.dst_addr, a.data(), 16);
  }
  rule.protocol = static_cast<uint8_t>(f.protocol);
  rule.src_port = f.source_port;
  rule.dst_port = f.destination_port;
  rule.snap_len = entry.snap_length == 0 ? kMaxSnapLength : entry.snap_length;
  rule.recording_slot = entry.recording_slot;
  return rule;
}

TableImage build_table(std::span<const CompiledRule> rules) {
  TableImage t;
  for (const auto& r : rules) {
    const recorder_rule& rule = r.rule;
    const unsigned slot = r.slot;
    if (rule.protocol == 0) {
      for (auto& m : t.protocol) set_bit(m, slot);
    } else {
      set_bit(t.protocol[rule.protocol], slot);
    }
    if (rule.src_port == 0) {
      set_bit(t.masks.any_sport, slot);
    } else {
      set_bit(t.source_port[rule.src_port], slot);
    }
    if (rule.dst_port == 0) {
      set_bit(t.masks.any_dport, slot);
    } else {
      set_bit(t.destination_port[rule.dst_port], slot);
    }
    if (rule.src_port == 0 && rule.dst_port == 0) set_bit(t.masks.portless, slot);
    if (rule.family == 0 || (rule.family == 4 && rule.src_prefix_len == 0)) {
      set_bit(t.masks.wild_src4, slot);
    }
    if (rule.family == 0 || (rule.family == 4 && rule.dst_prefix_len == 0)) {
      set_bit(t.masks.wild_dst4, slot);
    }
    if (rule.family == 0 || (rule.family == 6 && rule.src_prefix_len == 0)) {
      set_bit(t.masks.wild_src6, slot);
    }
    if (rule.family == 0 || (rule.family == 6 && rule.dst_prefix_len == 0)) {
      set_bit(t.masks.wild_dst6, slot);
    }
    if (rule.family == 0) {
      set_bit(t.masks.any_addr, slot);
      if (rule.protocol == 0 && rule.src_port == 0 && rule.dst_port == 0) {
        set_bit(t.masks.non_ip, slot);
      }
    }
    t.info[slot].snap_len = rule.snap_len;
    t.info[slot].recording_slot = rule.recording_slot;
  }
  build_lpm(rules, 4, true, t.source4);
  build_lpm(rules, 4, false, t.destination4);
  build_lpm(rules, 6, true, t.source6);
  build_lpm(rules, 6, false, t.destination6);
  for (unsigned dim = 0; dim < RECORDER_ADDR_DIMS; ++dim) build_prefilter(rules, dim, t);
  return t;
}

}  // namespace recorder::datapath
