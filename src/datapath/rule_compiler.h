// Rule compiler: turns the Router's rule entries into the kernel rule table's contents.
//
// This is the one place that knows how a Filter becomes a recorder_rule and how a set of rules
// becomes per-dimension masks (protocol array, port hashes, address LPM tries, wildcard masks,
// see recorder_abi.h). The map writer (rule_table.h) and the privileged tests use it, so the
// tests exercise exactly what the daemon installs. Pure functions, no kernel access.
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
  recorder_set_masks masks{};
  std::array<recorder_rule_info, RECORDER_MAX_RULES> info{};
};

// Builds the table for `rules` (slots must be < RECORDER_MAX_RULES and distinct).
TableImage build_table(std::span<const CompiledRule> rules);

inline void set_bit(recorder_rule_mask& mask, unsigned slot) {
  mask.words[slot / 64] |= uint64_t{1} << (slot % 64);
}
inline bool test_bit(const recorder_rule_mask& mask, unsigned slot) {
  return (mask.words[slot / 64] >> (slot % 64)) & 1u;
}

}  // namespace recorder::datapath
