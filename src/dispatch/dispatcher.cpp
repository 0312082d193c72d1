#include "dispatch/dispatcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <bitset>
#include <chrono>
#include <thread>

#include "dispatch/packet_info.h"
#include "dispatch/rule_mask.h"

namespace recorder {

// Table hand-over without locks. The hot path, at the first packet of a batch, stores
// in_batch = true and then loads `table` (both seq_cst) and announces what it loaded in
// `batch_table`; at the batch end it clears both. publish() stores the new pointer (seq_cst) and
// then waits while the hot path is in a batch that is not known to use the new table. Because
// all four accesses are seq_cst, a batch that starts after publish() saw in_batch == false
// necessarily loads the new pointer, so the old table is unreachable once publish() returns.
struct Dispatcher::State {
  std::atomic<const RoutingTable*> table{nullptr};
  std::atomic<bool> in_batch{false};
  std::atomic<const RoutingTable*> batch_table{nullptr};

  // Control side: keeps the published table alive.
  std::shared_ptr<const RoutingTable> owner;

  // Hot path only.
  const RoutingTable* current = nullptr;
  bool batch_open = false;

  // Single writer (the hot path), read by anyone.
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> packets_unmatched{0};
  std::atomic<uint64_t> stale_rule_bits{0};
};

namespace {

void bump(std::atomic<uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace

Dispatcher::Dispatcher() : state_(std::make_unique<State>()) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::on_packet(const CapturedPacket& packet) noexcept {
  State& s = *state_;
  if (!s.batch_open) {
    s.in_batch.store(true, std::memory_order_seq_cst);
    s.current = s.table.load(std::memory_order_seq_cst);
    s.batch_table.store(s.current, std::memory_order_seq_cst);
    s.batch_open = true;
  }
  bump(s.packets);
  const RoutingTable* table = s.current;
  if (table == nullptr || table->rules.empty()) {
    bump(s.packets_unmatched);
    return;
  }
  // Each recording gets the packet once, however many of its rules matched.
  auto route = [&](const CapturedPacket& p, const RuleMask& mask) noexcept {
    std::bitset<RECORDER_MAX_RECORDINGS> offered;
    bool matched = false;
    const bool from_kernel = p.kernel_rules != nullptr;
    for_each_rule(mask, [&](unsigned slot) noexcept {
      const int16_t recording_slot = table->rule_to_recording[slot];
      if (recording_slot < 0) return;
      // The slot's rule came in after the kernel classified the packet: the bit meant another
      // rule (see dispatcher.h). Serial-number comparison, so the generation may wrap.
      if (from_kernel && static_cast<int32_t>(p.rule_generation - table->slot_epoch[slot]) < 0) {
        bump(s.stale_rule_bits);
        return;
      }
      if (offered.test(static_cast<size_t>(recording_slot))) return;
      offered.set(static_cast<size_t>(recording_slot));
      if (static_cast<size_t>(recording_slot) >= table->recordings.size()) return;
      Recording* recording = table->recordings[static_cast<size_t>(recording_slot)].get();
      if (recording == nullptr) return;
      recording->offer(p);
      matched = true;
    });
    if (!matched) bump(s.packets_unmatched);
  };
  // The kernel's answer is read where it is, word by word, not copied: the header it sits in
  // was just written in wider pieces, and a wide copy would stall on store forwarding.
  if (packet.kernel_rules != nullptr) {
    route(packet, *packet.kernel_rules);
    return;
  }
  // Classified here: the recordings get the decoded fields with the packet (a ring's index
  // takes them instead of decoding the packet again).
  const PacketInfo info = decode_packet(packet.data, packet.link_type);
  CapturedPacket decoded = packet;
  decoded.decoded = &info;
  route(decoded, table->classifier.classify(info));
}

void Dispatcher::on_batch_end() noexcept {
  State& s = *state_;
  if (!s.batch_open) return;
  s.batch_open = false;
  s.current = nullptr;
  s.batch_table.store(nullptr, std::memory_order_seq_cst);
  s.in_batch.store(false, std::memory_order_seq_cst);
}

void Dispatcher::publish(std::shared_ptr<const RoutingTable> table) {
  State& s = *state_;
  const RoutingTable* fresh = table.get();
  std::shared_ptr<const RoutingTable> previous = std::move(s.owner);
  s.owner = std::move(table);
  s.table.store(fresh, std::memory_order_seq_cst);
  // Wait for the hot path to leave a batch that may still use the previous table. A batch lasts
  // at most 100 ms, so this is short; spin briefly first since batches usually are.
  for (int round = 0;; ++round) {
    if (!s.in_batch.load(std::memory_order_seq_cst)) break;
    if (s.batch_table.load(std::memory_order_seq_cst) == fresh && fresh != nullptr) break;
    if (round < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  previous.reset();  // now safe: nothing on the hot path can reach it
}

DispatchCounters Dispatcher::counters() const noexcept {
  DispatchCounters c;
  c.packets = state_->packets.load(std::memory_order_relaxed);
  c.packets_unmatched = state_->packets_unmatched.load(std::memory_order_relaxed);
  c.stale_rule_bits = state_->stale_rule_bits.load(std::memory_order_relaxed);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Router

namespace {

std::shared_ptr<RoutingTable> empty_table() {
  auto table = std::make_shared<RoutingTable>();
  table->rule_to_recording.fill(-1);
  return table;
}

void rebuild_classifier(RoutingTable& table) {
  std::vector<ClassifierRule> rules;
  rules.reserve(table.rules.size());
  for (const RuleEntry& rule : table.rules) rules.push_back({rule.slot, rule.filter});
  table.classifier = Classifier(rules);
}

}  // namespace

Router::Router(Dispatcher& dispatcher, RuleListener* kernel_rules)
    : dispatcher_(dispatcher), kernel_rules_(kernel_rules), table_(empty_table()) {
  dispatcher_.publish(table_);
}

Status Router::add(std::shared_ptr<Recording> recording) {
  if (!recording) return Error(ErrorCode::kInvalidArgument, "add recording: no recording given");
  std::lock_guard lock(mutex_);
  const uint64_t id = recording->id();
  const auto& include = recording->spec().include;
  if (include.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("add recording {}: it has no include filter", id));
  }
  for (const auto& existing : table_->recordings) {
    if (existing && existing->id() == id) {
      return Error(ErrorCode::kAlreadyExists,
                   fmt::format("add recording {}: a recording with this id is active", id));
    }
  }
  const size_t in_use = table_->rules.size();
  if (in_use + include.size() > RECORDER_MAX_RULES) {
    return Error(ErrorCode::kResourceExhausted,
                 fmt::format("add recording {}: no free rule slots: {} of {} in use, the "
                             "recording needs {}",
                             id, in_use, RECORDER_MAX_RULES, include.size()));
  }

  auto table = std::make_shared<RoutingTable>(*table_);
  const uint32_t generation = generation_ + 1;
  table->generation = generation;
  // Recording slot: the first free one.
  size_t recording_slot = 0;
  while (recording_slot < table->recordings.size() && table->recordings[recording_slot]) {
    ++recording_slot;
  }
  if (recording_slot == table->recordings.size()) table->recordings.emplace_back();
  table->recordings[recording_slot] = recording;

  // Rule slots: round robin from next_slot_, so a freed slot is the last to be reused and a
  // packet still carrying an old kernel mask is unlikely to reach a newer recording.
  uint16_t next = next_slot_;
  for (const Filter& filter : include) {
    while (table->rule_to_recording[next] >= 0) next = (next + 1) % RECORDER_MAX_RULES;
    table->rule_to_recording[next] = static_cast<int16_t>(recording_slot);
    table->slot_epoch[next] = generation;
    table->rules.push_back(RuleEntry{next, static_cast<uint16_t>(recording_slot), id, filter,
                                     recording->spec().snap_length});
    next = (next + 1) % RECORDER_MAX_RULES;
  }
  rebuild_classifier(*table);

  // User space first, then the kernel: a packet the kernel emits for a new rule always finds the
  // rule in the routing table.
  std::shared_ptr<const RoutingTable> previous = table_;
  table_ = table;
  generation_ = generation;  // kept on failure too: the number may have reached the kernel
  dispatcher_.publish(table_);
  if (kernel_rules_ != nullptr) {
    Status installed = kernel_rules_->install_rules(table_->rules, generation);
    if (!installed) {
      table_ = previous;
      dispatcher_.publish(table_);
      return std::move(installed).error().wrap(
          fmt::format("add recording {}: install kernel rules", id));
    }
  }
  next_slot_ = next;
  return ok_status();
}

void Router::remove(uint64_t recording_id) {
  std::lock_guard lock(mutex_);
  auto table = std::make_shared<RoutingTable>(*table_);
  table->generation = ++generation_;
  bool found = false;
  for (auto& recording : table->recordings) {
    if (recording && recording->id() == recording_id) {
      recording.reset();
      found = true;
    }
  }
  if (!found) return;
  std::erase_if(table->rules, [&](const RuleEntry& rule) {
    if (rule.recording_id != recording_id) return false;
    table->rule_to_recording[rule.slot] = -1;
    return true;
  });
  while (!table->recordings.empty() && !table->recordings.back()) table->recordings.pop_back();
  rebuild_classifier(*table);
  // The kernel first: then no new packet carries the recording's rules. Then the packets it
  // matched before that, still in the kernel's buffers, are delivered through the current table
  // (drain), and publishing the new table (which waits for the hot path's batch) makes the
  // recording unreachable.
  if (kernel_rules_ != nullptr) {
    // A failure leaves stale kernel rules whose bits map to no recording: harmless for
    // correctness (dispatch ignores them), so removal goes on.
    Status installed = kernel_rules_->install_rules(table->rules, table->generation);
    if (!installed) {
      spdlog::warn("remove recording {}: install kernel rules: {} (its stale rules are ignored)",
                   recording_id, installed.error().message());
    }
    kernel_rules_->drain();
  }
  table_ = table;
  dispatcher_.publish(table_);
}

std::shared_ptr<const RoutingTable> Router::current() const {
  std::lock_guard lock(mutex_);
  return table_;
}

}  // namespace recorder
