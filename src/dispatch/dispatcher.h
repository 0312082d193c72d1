// Dispatcher and Router: hand each packet to every recording that wants it, without locks.
//
// The Router (control side) owns the set of active recordings. Each include filter of each
// recording becomes a rule with a slot (0..RECORDER_MAX_RULES-1). On every change the Router
// builds a new immutable RoutingTable with the next generation number, publishes it to the
// Dispatcher, and hands the rule list with that generation to the kernel rule table
// (RuleListener) when there is one.
//
// Generations: a packet the kernel classified carries the generation of the rule set it was
// classified with (recorder_capture_hdr.generation), and may sit in the per-CPU buffers for a
// while. Each table records, per slot, the generation at which the slot's current rule was
// assigned (slot_epoch). A rule bit of a packet of generation g is routed only when the slot is
// still assigned and was assigned at or before g: then the slot holds the very rule the kernel
// matched. A slot freed and given to another recording after g fails the test, and the packet
// is counted as stale for that bit instead of reaching a recording whose filters it may not
// match.
//
// The Dispatcher (hot path, the source's thread) loads the current table at the start of a batch
// and keeps it until on_batch_end(). publish() swaps the table pointer and returns once the hot
// path can no longer be using the previous table, so the control side may then free it and
// finish the recordings that left it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/result.h"
#include "dispatch/classifier.h"
#include "dispatch/recording.h"
#include "dispatch/source.h"

namespace recorder {

struct RuleEntry {
  uint16_t slot = 0;            // the rule's bit in a RuleMask
  uint16_t recording_slot = 0;  // index of its recording in RoutingTable::recordings
  uint64_t recording_id = 0;    // Recording::id() of that recording
  Filter filter;
  uint32_t snap_length = 0;
};

// Immutable once published.
struct RoutingTable {
  uint32_t generation = 0;  // one more with every change (wraps; compared modulo 2^32)
  std::vector<std::shared_ptr<Recording>> recordings;           // by recording slot (null = free)
  std::vector<RuleEntry> rules;                                 // the active rules
  std::array<int16_t, RECORDER_MAX_RULES> rule_to_recording{};  // slot -> recording slot, -1 free
  std::array<uint32_t, RECORDER_MAX_RULES> slot_epoch{};  // generation the slot's rule came in
  Classifier classifier;  // user-space classification of `rules`, for sources without kernel bits
};

// The kernel rule table (src/datapath) implements this to follow rule changes.
class RuleListener {
 public:
  virtual ~RuleListener() = default;
  // Installs `rules` as the table of `generation`, which the kernel stamps on every packet it
  // classifies with them.
  virtual Status install_rules(std::span<const RuleEntry> rules, uint32_t generation) = 0;
  // Returns once every packet the kernel emitted before the call has been handed to the
  // dispatcher, however long a slow reader takes (or at once when nothing reads the kernel's
  // buffers). Router::remove() calls it
  // after the kernel stopped matching a recording's rules, so packets the recording matched
  // before its stop reach its file instead of vanishing with its routing entry.
  virtual void drain() {}
};

struct DispatchCounters {
  uint64_t packets = 0;            // packets offered by the source
  uint64_t packets_unmatched = 0;  // matched no active recording (replay, or stale kernel bits)
  // Rule bits dropped because their slot was given to another rule after the packet was
  // classified (the packet reaches every recording whose rule still holds).
  uint64_t stale_rule_bits = 0;
};

class Dispatcher final : public PacketConsumer {
 public:
  Dispatcher();
  ~Dispatcher() override;

  void on_packet(const CapturedPacket& packet) noexcept override;
  void on_batch_end() noexcept override;

  // Control side; calls are serialized by the Router.
  void publish(std::shared_ptr<const RoutingTable> table);
  DispatchCounters counters() const noexcept;

 private:
  // ... hot-path state: current table pointer, in-batch flag, counters (see dispatcher.cpp)
  struct State;
  std::unique_ptr<State> state_;
};

class Router {
 public:
  explicit Router(Dispatcher& dispatcher, RuleListener* kernel_rules = nullptr);

  // Adds a recording: assigns its rule slots, publishes the new table, installs kernel rules.
  // RESOURCE_EXHAUSTED when there are not enough free rule slots.
  Status add(std::shared_ptr<Recording> recording);
  // Removes a recording from the kernel rules and the routing table. When it returns, no packet
  // can reach the recording any more, so it may be finished. Unknown ids are ignored.
  void remove(uint64_t recording_id);
  std::shared_ptr<const RoutingTable> current() const;

 private:
  Dispatcher& dispatcher_;
  RuleListener* kernel_rules_;
  mutable std::mutex mutex_;  // control side only
  std::shared_ptr<const RoutingTable> table_;
  uint16_t next_slot_ = 0;   // round-robin rule slot allocation
  uint32_t generation_ = 0;  // of table_
};

}  // namespace recorder
