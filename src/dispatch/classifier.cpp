#include "dispatch/classifier.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <unordered_map>

#include "dispatch/rule_mask.h"

namespace recorder {
namespace {

// An address (IPv4 in the first 4 bytes) cut to a prefix, as the key of a prefix table.
struct AddressKey {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const AddressKey&) const = default;
};

struct AddressKeyHash {
  size_t operator()(const AddressKey& key) const noexcept {
    // splitmix-style mixing: prefixes differ mostly in a few bits.
    uint64_t x = key.high * 0x9e3779b97f4a7c15ull ^ (key.low + 0x632be59bd9b4e5a9ull);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return static_cast<size_t>(x);
  }
};

// The mask of the first `prefix_length` bits of an address, as the two 64-bit words a key is
// made of (in memory order, so it applies to the address bytes as loaded).
AddressKey prefix_mask(unsigned prefix_length) {
  std::array<uint8_t, 16> bytes{};
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bit = i * 8;
    if (prefix_length >= bit + 8) {
      bytes[i] = 0xff;
    } else if (prefix_length > bit) {
      bytes[i] = static_cast<uint8_t>(0xff00u >> (prefix_length - bit));
    }
  }
  AddressKey mask;
  std::memcpy(&mask.high, bytes.data(), 8);
  std::memcpy(&mask.low, bytes.data() + 8, 8);
  return mask;
}

AddressKey make_key(const std::array<uint8_t, 16>& address, const AddressKey& mask) noexcept {
  AddressKey key;
  std::memcpy(&key.high, address.data(), 8);
  std::memcpy(&key.low, address.data() + 8, 8);
  key.high &= mask.high;
  key.low &= mask.low;
  return key;
}

AddressKey make_key(const std::array<uint8_t, 16>& address, unsigned prefix_length) {
  return make_key(address, prefix_mask(prefix_length));
}

// The prefixes of one length: an open-addressing table (linear probing, power-of-two size, so a
// lookup is a hash, a mask and usually one compare; no division and no node to chase, which is
// what std::unordered_map costs per packet). Built once per routing table, read-only after.
class PrefixSet {
 public:
  RuleMask& insert(const AddressKey& key) {
    if ((entries_.size() + 1) * 2 > slots_.size()) grow();
    Slot& slot = slots_[index_of(key)];
    if (slot.value == 0) {
      slot.key = key;
      entries_.emplace_back();
      slot.value = static_cast<uint32_t>(entries_.size());
    }
    return entries_[slot.value - 1];
  }
  const RuleMask* find(const AddressKey& key) const noexcept {
    if (slots_.empty()) return nullptr;
    const Slot& slot = slots_[index_of(key)];
    return slot.value == 0 ? nullptr : &entries_[slot.value - 1];
  }
  template <typename F>
  void for_each(F&& f) {
    for (const Slot& slot : slots_) {
      if (slot.value != 0) f(slot.key, entries_[slot.value - 1]);
    }
  }

 private:
  struct Slot {
    AddressKey key;
    uint32_t value = 0;  // index + 1 into entries_; 0: empty
  };
  // The slot holding `key`, or the empty slot where it would go (the table is never full).
  size_t index_of(const AddressKey& key) const noexcept {
    const size_t mask = slots_.size() - 1;
    const size_t hash = AddressKeyHash{}(key);
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      if (slots_[i].value == 0 || slots_[i].key == key) return i;
    }
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    for (const Slot& s : old) {
      if (s.value != 0) slots_[index_of(s.key)] = s;
    }
  }
  std::vector<Slot> slots_;  // at most half full
  std::vector<RuleMask> entries_;
};

// Longest-prefix match for one family and one direction. For every distinct prefix length
// present there is one PrefixSet; the value stored for a prefix is the OR of the masks of every
// rule whose CIDR contains that prefix (its own and all shorter ones), so the first hit when
// probing from the longest length down is the complete answer.
struct PrefixTable {
  struct Level {
    unsigned prefix_length;
    AddressKey mask;  // prefix_mask(prefix_length)
    PrefixSet prefixes;
  };
  std::vector<Level> levels;  // longest prefix first

  void build(const std::vector<std::pair<const Cidr*, uint16_t>>& cidrs) {
    std::vector<unsigned> lengths;
    for (const auto& [cidr, slot] : cidrs) lengths.push_back(cidr->prefix_length);
    std::sort(lengths.begin(), lengths.end(), std::greater<>());
    lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
    for (unsigned length : lengths) {
      Level level{length, prefix_mask(length), {}};
      for (const auto& [cidr, slot] : cidrs) {
        if (cidr->prefix_length != length) continue;
        level.prefixes.insert(make_key(cidr->address, length));
      }
      // Every rule with a prefix at most this long that contains the key contributes.
      level.prefixes.for_each([&](const AddressKey& key, RuleMask& mask) {
        for (const auto& [cidr, slot] : cidrs) {
          if (cidr->prefix_length > length) continue;
          std::array<uint8_t, 16> address{};
          std::memcpy(address.data(), &key.high, 8);
          std::memcpy(address.data() + 8, &key.low, 8);
          if (make_key(address, cidr->prefix_length) ==
              make_key(cidr->address, cidr->prefix_length)) {
            set_rule(mask, slot);
          }
        }
      });
      levels.push_back(std::move(level));
    }
  }

  RuleMask lookup(const std::array<uint8_t, 16>& address) const noexcept {
    for (const Level& level : levels) {
      if (const RuleMask* m = level.prefixes.find(make_key(address, level.mask))) return *m;
    }
    return RuleMask{};
  }
};

// Exact ports plus the rules that accept any port (port 0).
struct PortTable {
  RuleMask wildcard{};
  std::unordered_map<uint16_t, RuleMask> exact;

  // Narrows `candidates` to the rules that accept the port. When every candidate accepts any
  // port, the lookup is skipped.
  void narrow(RuleMask& candidates, bool has_ports, uint16_t port) const noexcept {
    if (subset_of(candidates, wildcard)) return;
    RuleMask mask = wildcard;
    if (has_ports) {
      const auto it = exact.find(port);
      if (it != exact.end()) or_rules(mask, it->second);
    }
    and_rules(candidates, mask);
  }
};

// Addresses of one direction: rules without a CIDR accept every packet (IP or not).
struct AddressTable {
  RuleMask wildcard{};
  PrefixTable ipv4;
  PrefixTable ipv6;
  // Rules that accept every address of the family: no CIDR, or a /0 of that family.
  RuleMask accepts_all_ipv4{};
  RuleMask accepts_all_ipv6{};

  // Narrows `candidates` to the rules that accept the address. When every candidate accepts
  // any address of the packet's family (filters naming only the other side, or /0), the
  // lookup is skipped: the answer cannot change.
  void narrow(RuleMask& candidates, uint8_t ip_version,
              const std::array<uint8_t, 16>& address) const noexcept {
    if (ip_version == 4 && subset_of(candidates, accepts_all_ipv4)) return;
    if (ip_version == 6 && subset_of(candidates, accepts_all_ipv6)) return;
    RuleMask mask = wildcard;
    if (ip_version == 4) or_rules(mask, ipv4.lookup(address));
    if (ip_version == 6) or_rules(mask, ipv6.lookup(address));
    and_rules(candidates, mask);
  }

  void build(std::span<const ClassifierRule> rules, const Cidr Filter::*which) {
    std::vector<std::pair<const Cidr*, uint16_t>> v4, v6;
    for (const ClassifierRule& rule : rules) {
      const Cidr& cidr = rule.filter.*which;
      switch (cidr.family) {
        case AddressFamily::kAny:
          set_rule(wildcard, rule.slot);
          set_rule(accepts_all_ipv4, rule.slot);
          set_rule(accepts_all_ipv6, rule.slot);
          break;
        case AddressFamily::kIPv4:
          v4.emplace_back(&cidr, rule.slot);
          if (cidr.prefix_length == 0) set_rule(accepts_all_ipv4, rule.slot);
          break;
        case AddressFamily::kIPv6:
          v6.emplace_back(&cidr, rule.slot);
          if (cidr.prefix_length == 0) set_rule(accepts_all_ipv6, rule.slot);
          break;
      }
    }
    ipv4.build(v4);
    ipv6.build(v6);
  }
};

}  // namespace

struct Classifier::Tables {
  // protocol[p]: rules accepting a packet whose protocol is p (kAny rules are in every entry).
  std::array<RuleMask, 256> protocol{};
  // Rules accepting a packet whose protocol is unknown: only kAny ones.
  RuleMask protocol_unknown{};
  AddressTable source;
  AddressTable destination;
  PortTable source_port;
  PortTable destination_port;
};

Classifier::Classifier(std::span<const ClassifierRule> rules) {
  auto tables = std::make_shared<Tables>();
  for (const ClassifierRule& rule : rules) {
    const Filter& f = rule.filter;
    if (f.protocol == Protocol::kAny) {
      set_rule(tables->protocol_unknown, rule.slot);
      for (RuleMask& mask : tables->protocol) set_rule(mask, rule.slot);
    } else {
      set_rule(tables->protocol[static_cast<uint8_t>(f.protocol)], rule.slot);
    }
    if (f.source_port == 0) {
      set_rule(tables->source_port.wildcard, rule.slot);
    } else {
      set_rule(tables->source_port.exact[f.source_port], rule.slot);
    }
    if (f.destination_port == 0) {
      set_rule(tables->destination_port.wildcard, rule.slot);
    } else {
      set_rule(tables->destination_port.exact[f.destination_port], rule.slot);
    }
  }
  tables->source.build(rules, &Filter::source);
  tables->destination.build(rules, &Filter::destination);
  tables_ = std::move(tables);
}

RuleMask Classifier::classify(const PacketInfo& packet) const noexcept {
  if (!tables_) return RuleMask{};
  const Tables& t = *tables_;
  RuleMask mask = packet.has_protocol ? t.protocol[packet.protocol] : t.protocol_unknown;
  if (!any_rule(mask)) return mask;
  t.source.narrow(mask, packet.ip_version, packet.source);
  if (!any_rule(mask)) return mask;
  t.destination.narrow(mask, packet.ip_version, packet.destination);
  if (!any_rule(mask)) return mask;
  t.source_port.narrow(mask, packet.has_ports, packet.source_port);
  t.destination_port.narrow(mask, packet.has_ports, packet.destination_port);
  return mask;
}

}  // namespace recorder
