// Rule compiler: turns the Router's rule entries into the kernel rule table's contents.
//
// This is the one place that knows how a Filter becomes a recorder_rule and how a set of rules
// becomes per-dimension masks (protocol array, port arrays, address LPM tries and the address
// prefilter bitmaps in front of them, wildcard masks, see recorder_abi.h). The map writer
// (rule_table.h) and the privileged tests use it, so the tests exercise exactly what the daemon
// installs. Pure functions, no kernel access.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "dispatch/dispatcher.h"
#include "recorder/recorder_abi.h"

namespace recorder::datapath {

// Snap length used for a rule whose snap_length is 0 ("whole packet").
inline constexpr uint32_t kMaxSnapLength = 262144;

struct CompiledRule {
  uint16_t slot = 0;  // the rule's bit in the mask
  recorder_rule rule{};
};

// Filter + snap length + recording slot -> recorder_rule.
recorder_rule compile_rule(const RuleEntry& entry);

// One address prefix of an LPM trie: `address` masked to `prefix_length` bits.
struct Prefix {
  uint8_t prefix_length = 0;
  std::array<uint8_t, 16> address{};
  auto operator<=>(const Prefix&) const = default;
};

// The contents of one rule set (without the set index, which the writer adds).
struct TableImage {
  std::array<recorder_rule_mask, 256> protocol{};      // rules matching protocol p (incl. any)
  std::map<uint16_t, recorder_rule_mask> source_port;  // port -> rules with that port
  std::map<uint16_t, recorder_rule_mask> destination_port;
  std::map<Prefix, recorder_rule_mask> source4, destination4, source6, destination6;
  recorder_set_masks masks{};  // incl. the prefilter masks (masks.addr_mask)
  std::array<recorder_rule_info, RECORDER_MAX_RULES> info{};
  // Address prefilter per enum recorder_addr_dim: L, the shortest non-zero prefix length of
  // the dimension's rules (0: the dimension has no non-zero prefix, the bitmap is empty), and
  // the bitmap with the bit of every non-zero prefix's first L bits.
  std::array<uint8_t, RECORDER_ADDR_DIMS> prefilter_length{};
  std::array<recorder_addr_bloom, RECORDER_ADDR_DIMS> prefilter{};
};

// Builds the table for `rules` (slots must be < RECORDER_MAX_RULES and distinct).
TableImage build_table(std::span<const CompiledRule> rules);

// The address family (4 or 6) of a prefilter dimension.
inline unsigned prefilter_family(unsigned dim) {
  return dim == RECORDER_ADDR_SRC4 || dim == RECORDER_ADDR_DST4 ? 4 : 6;
}

// The prefilter's words of a network-order address (4 or 16 bytes), loaded as the BPF program
// loads them: native 64-bit words of the bytes; IPv4 as a native u32 in hi, lo = 0.
struct AddressWords {
  uint64_t hi = 0, lo = 0;
};
AddressWords address_words(const uint8_t* address, unsigned family);

// The mask of the first `prefix_length` bits of a `family` address, in the same representation.
recorder_addr_mask prefilter_mask(unsigned prefix_length, unsigned family);

// The bitmap bit of `address` under `mask`: the bit the BPF program tests.
uint32_t prefilter_bit(const recorder_addr_mask& mask, const uint8_t* address, unsigned family);

// Does the BPF program's prefilter let `address` through to dimension `dim`'s trie (bit set)?
// False proves that no non-zero prefix of that dimension contains the address.
bool prefilter_passes(const TableImage& image, unsigned dim, const uint8_t* address);

inline void set_bit(recorder_rule_mask& mask, unsigned slot) {
  mask.words[slot / 64] |= uint64_t{1} << (slot % 64);
}
inline bool test_bit(const recorder_rule_mask& mask, unsigned slot) {
  return (mask.words[slot / 64] >> (slot % 64)) & 1u;
}

}  // namespace recorder::datapath
