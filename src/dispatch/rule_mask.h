// Small helpers for RuleMask (struct recorder_rule_mask): set/test bits, AND/OR, iterate.
//
// Owned by dispatch; header-only and allocation-free so the hot path (classifier, dispatcher)
// and tests can use them freely.
#pragma once

#include <bit>
#include <cstdint>

#include "dispatch/packet.h"

namespace recorder {

inline void set_rule(RuleMask& mask, unsigned slot) noexcept {
  mask.words[slot / 64] |= uint64_t{1} << (slot % 64);
}

inline bool has_rule(const RuleMask& mask, unsigned slot) noexcept {
  return (mask.words[slot / 64] >> (slot % 64)) & 1u;
}

inline bool any_rule(const RuleMask& mask) noexcept {
  uint64_t acc = 0;
  for (uint64_t w : mask.words) acc |= w;
  return acc != 0;
}

// Named functions rather than operators: RuleMask is a C type from the global namespace, so
// operators declared here would not be found by argument-dependent lookup.
inline bool same_rules(const RuleMask& a, const RuleMask& b) noexcept {
  uint64_t diff = 0;
  for (int i = 0; i < RECORDER_RULE_WORDS; ++i) diff |= a.words[i] ^ b.words[i];
  return diff == 0;
}

// True when every rule in `mask` is also in `of`.
inline bool subset_of(const RuleMask& mask, const RuleMask& of) noexcept {
  uint64_t outside = 0;
  for (int i = 0; i < RECORDER_RULE_WORDS; ++i) outside |= mask.words[i] & ~of.words[i];
  return outside == 0;
}

inline void or_rules(RuleMask& into, const RuleMask& other) noexcept {
  for (int i = 0; i < RECORDER_RULE_WORDS; ++i) into.words[i] |= other.words[i];
}

inline void and_rules(RuleMask& into, const RuleMask& other) noexcept {
  for (int i = 0; i < RECORDER_RULE_WORDS; ++i) into.words[i] &= other.words[i];
}

inline int count_rules(const RuleMask& mask) noexcept {
  int n = 0;
  for (uint64_t w : mask.words) n += std::popcount(w);
  return n;
}

// Calls fn(slot) for every set bit, lowest slot first.
template <typename Fn>
inline void for_each_rule(const RuleMask& mask, Fn&& fn) noexcept(noexcept(fn(0u))) {
  for (unsigned w = 0; w < RECORDER_RULE_WORDS; ++w) {
    uint64_t bits = mask.words[w];
    while (bits != 0) {
      const unsigned bit = static_cast<unsigned>(std::countr_zero(bits));
      bits &= bits - 1;
      fn(w * 64 + bit);
    }
  }
}

}  // namespace recorder
