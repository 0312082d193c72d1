// RuleTable: keeps the kernel rule table of a loaded BpfObject equal to a list of rules, and
// reads the per-rule kernel counters.
//
// Consistency: the table is double-buffered (recorder_abi.h). install() clears and rewrites the
// inactive set (stamped with the caller's generation, which the kernel copies into every capture
// header), then flips recorder_active_set (one aligned 32-bit store into the mmaped .bss), so
// every packet is classified with either the old or the new rules, never a mix. A program that
// read the selector just before the flip can still be using the old set, so install() then waits
// for an RCU grace period (RcuBarrier: tc programs run under RCU): when it returns, no program
// uses the old set any more, and the next install() may rewrite it.
//
// Counters are kept per set and slot. After a flip and its grace period the old set's counters
// no longer grow, so their final deltas are folded into the owning recordings exactly;
// the new set's counters are zeroed before the set is written. Not thread-safe against itself:
// the owner (Datapath) serializes calls.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "common/result.h"
#include "datapath/rcu_barrier.h"
#include "datapath/rule_compiler.h"
#include "dispatch/dispatcher.h"

namespace recorder::datapath {

class BpfObject;

struct RuleCounters {
  uint64_t matched_packets = 0, matched_bytes = 0, emit_fail_packets = 0, emit_fail_bytes = 0;
};

class RuleTable {
 public:
  explicit RuleTable(BpfObject& object);

  Status install(std::span<const RuleEntry> rules, uint32_t generation);
  // Installs already compiled rules (tests); recording ids are those given.
  Status install_compiled(std::span<const CompiledRule> rules,
                          std::span<const uint64_t> recording_ids, uint32_t generation = 0);

  // Emission failures since the last call per recording id (including removed rules).
  std::map<uint64_t, RuleCounters> take_losses();
  // Sum over CPUs of the active set's counters for `slot` (tests, status).
  Result<RuleCounters> read_counters(uint16_t slot) const;
  uint32_t active_set() const { return active_; }

 private:
  Result<RuleCounters> read(uint32_t set, uint16_t slot) const;
  Status clear_set(uint32_t set);
  Status write_set(uint32_t set, const TableImage& image, uint32_t generation);
  void fold(uint32_t set, std::map<uint64_t, RuleCounters>& into);

  BpfObject& object_;
  RcuBarrier grace_;
  uint32_t active_ = 0;
  // Per set: owner recording id of each slot (0 = free) and the failure counts reported so far.
  std::array<std::array<uint64_t, RECORDER_MAX_RULES>, RECORDER_TABLE_SETS> owner_{};
  std::array<std::array<RuleCounters, RECORDER_MAX_RULES>, RECORDER_TABLE_SETS> reported_{};
  // Keys written into each set, so clear_set removes exactly those.
  struct Keys {
    std::vector<uint32_t> sport, dport;
    std::vector<recorder_lpm4_key> src4, dst4;
    std::vector<recorder_lpm6_key> src6, dst6;
  };
  std::array<Keys, RECORDER_TABLE_SETS> keys_;
  std::map<uint64_t, RuleCounters> pending_;  // folded losses not yet taken
};

}  // namespace recorder::datapath
