#include "datapath/rule_table.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <cstring>

#include "datapath/loader.h"
#include "recorder/recorder.skel.h"

namespace recorder::datapath {
namespace {

Status update(int fd, const void* key, const void* value, const char* what) {
  if (bpf_map_update_elem(fd, key, value, BPF_ANY) != 0) {
    return Error::from_errno(fmt::format("write {} into the kernel rule table", what), errno);
  }
  return ok_status();
}

template <typename Key>
Key lpm_key(uint32_t set, const Prefix& p) {
  Key k{};
  k.prefixlen = RECORDER_LPM_SET_BITS + p.prefix_length;
  k.set = set;
  std::memcpy(k.addr, p.address.data(), sizeof(k.addr));
  return k;
}

}  // namespace

RuleTable::RuleTable(BpfObject& object) : object_(object) {
  active_ = object_.skeleton()->bss->recorder_active_set & 1;
}

Status RuleTable::clear_set(uint32_t set) {
  auto* maps = &object_.skeleton()->maps;
  Keys& k = keys_[set];
  // Deleting a key that is already gone is fine (ENOENT).
  // The port maps are arrays: a removed port is an all-zero mask again.
  const recorder_rule_mask none{};
  for (uint32_t key : k.sport) {
    if (auto s = update(bpf_map__fd(maps->recorder_sport), &key, &none, "a port mask"); !s) {
      return s;
    }
  }
  for (uint32_t key : k.dport) {
    if (auto s = update(bpf_map__fd(maps->recorder_dport), &key, &none, "a port mask"); !s) {
      return s;
    }
  }
  for (auto& key : k.src4) bpf_map_delete_elem(bpf_map__fd(maps->recorder_src4), &key);
  for (auto& key : k.dst4) bpf_map_delete_elem(bpf_map__fd(maps->recorder_dst4), &key);
  for (auto& key : k.src6) bpf_map_delete_elem(bpf_map__fd(maps->recorder_src6), &key);
  for (auto& key : k.dst6) bpf_map_delete_elem(bpf_map__fd(maps->recorder_dst6), &key);
  k = Keys{};
  // Counters of the set restart at zero: the per-CPU value is one struct per possible CPU.
  std::vector<recorder_rule_counters> zeros(object_.num_cpus());
  const int cfd = bpf_map__fd(maps->recorder_counters);
  for (uint32_t slot = 0; slot < RECORDER_MAX_RULES; ++slot) {
    const uint32_t key = set * RECORDER_MAX_RULES + slot;
    if (auto s = update(cfd, &key, zeros.data(), "zeroed counters"); !s) return s;
  }
  reported_[set] = {};
  owner_[set] = {};
  return ok_status();
}

Status RuleTable::write_set(uint32_t set, const TableImage& image, uint32_t generation) {
  auto* maps = &object_.skeleton()->maps;
  Keys& k = keys_[set];
  const int proto_fd = bpf_map__fd(maps->recorder_proto);
  for (uint32_t p = 0; p < 256; ++p) {
    const uint32_t key = set * 256 + p;
    if (auto s = update(proto_fd, &key, &image.protocol[p], "a protocol mask"); !s) return s;
  }
  for (const auto& [port, mask] : image.source_port) {
    const uint32_t key = RECORDER_PORT_KEY(set, port);
    if (auto s = update(bpf_map__fd(maps->recorder_sport), &key, &mask, "a port mask"); !s) {
      return s;
    }
    k.sport.push_back(key);
  }
  for (const auto& [port, mask] : image.destination_port) {
    const uint32_t key = RECORDER_PORT_KEY(set, port);
    if (auto s = update(bpf_map__fd(maps->recorder_dport), &key, &mask, "a port mask"); !s) {
      return s;
    }
    k.dport.push_back(key);
  }
  auto write_lpm = [&](const std::map<Prefix, recorder_rule_mask>& entries, int fd, auto& keys,
                       auto tag) -> Status {
    using Key = decltype(tag);
    for (const auto& [prefix, mask] : entries) {
      const Key key = lpm_key<Key>(set, prefix);
      if (auto s = update(fd, &key, &mask, "an address prefix"); !s) return s;
      keys.push_back(key);
    }
    return ok_status();
  };
  if (auto s =
          write_lpm(image.source4, bpf_map__fd(maps->recorder_src4), k.src4, recorder_lpm4_key{});
      !s) {
    return s;
  }
  if (auto s = write_lpm(image.destination4, bpf_map__fd(maps->recorder_dst4), k.dst4,
                         recorder_lpm4_key{});
      !s) {
    return s;
  }
  if (auto s =
          write_lpm(image.source6, bpf_map__fd(maps->recorder_src6), k.src6, recorder_lpm6_key{});
      !s) {
    return s;
  }
  if (auto s = write_lpm(image.destination6, bpf_map__fd(maps->recorder_dst6), k.dst6,
                         recorder_lpm6_key{});
      !s) {
    return s;
  }
  // The prefilter bitmaps are written whole, all four of the set every time, so whatever the
  // set held before (bits of removed prefixes) is gone with no separate clearing step.
  const int bloom_fd = bpf_map__fd(maps->recorder_addr_bloom);
  for (uint32_t dim = 0; dim < RECORDER_ADDR_DIMS; ++dim) {
    const uint32_t key = RECORDER_ADDR_BLOOM_KEY(set, dim);
    if (auto s = update(bloom_fd, &key, &image.prefilter[dim], "an address prefilter"); !s) {
      return s;
    }
  }
  const int info_fd = bpf_map__fd(maps->recorder_rule_info);
  for (uint32_t slot = 0; slot < RECORDER_MAX_RULES; ++slot) {
    const uint32_t key = set * RECORDER_MAX_RULES + slot;
    if (auto s = update(info_fd, &key, &image.info[slot], "rule info"); !s) return s;
  }
  // The set masks last: until they are written the set matches nothing anyway.
  recorder_set_masks masks = image.masks;
  masks.generation = generation;
  return update(bpf_map__fd(maps->recorder_set_masks), &set, &masks, "the set masks");
}

Status RuleTable::install(std::span<const RuleEntry> rules, uint32_t generation) {
  std::vector<CompiledRule> compiled;
  std::vector<uint64_t> ids;
  compiled.reserve(rules.size());
  for (const RuleEntry& e : rules) {
    if (e.slot >= RECORDER_MAX_RULES || e.recording_slot >= RECORDER_MAX_RECORDINGS) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("install kernel rule: slot {} / recording slot {} out of range",
                               e.slot, e.recording_slot));
    }
    compiled.push_back({e.slot, compile_rule(e)});
    ids.push_back(e.recording_id);
  }
  return install_compiled(compiled, ids, generation);
}

Status RuleTable::install_compiled(std::span<const CompiledRule> rules,
                                   std::span<const uint64_t> recording_ids, uint32_t generation) {
  // No program uses `next`: the previous install() waited for a grace period after its flip.
  const uint32_t next = active_ ^ 1;
  if (auto s = clear_set(next); !s) return s;
  const TableImage image = build_table(rules);
  if (auto s = write_set(next, image, generation); !s) return s;
  for (size_t i = 0; i < rules.size(); ++i) {
    owner_[next][rules[i].slot] = i < recording_ids.size() ? recording_ids[i] : 0;
  }
  __atomic_store_n(&object_.skeleton()->bss->recorder_active_set, next, __ATOMIC_RELEASE);
  const uint32_t old = active_;
  active_ = next;
  // After the grace period no program uses the old set: its counters are final (fold them now,
  // so losses of removed rules are reported) and the next install() may rewrite it.
  Status waited = grace_.wait();
  fold(old, pending_);
  return waited;
}

Result<RuleCounters> RuleTable::read(uint32_t set, uint16_t slot) const {
  std::vector<recorder_rule_counters> values(object_.num_cpus());
  const uint32_t key = set * RECORDER_MAX_RULES + slot;
  if (bpf_map_lookup_elem(bpf_map__fd(object_.skeleton()->maps.recorder_counters), &key,
                          values.data()) != 0) {
    return Error::from_errno(fmt::format("read the kernel counters of rule {}", slot), errno);
  }
  RuleCounters sum;
  for (const auto& v : values) {
    sum.matched_packets += v.matched_packets;
    sum.matched_bytes += v.matched_bytes;
    sum.emit_fail_packets += v.emit_fail_packets;
    sum.emit_fail_bytes += v.emit_fail_bytes;
  }
  return sum;
}

Result<RuleCounters> RuleTable::read_counters(uint16_t slot) const { return read(active_, slot); }

void RuleTable::fold(uint32_t set, std::map<uint64_t, RuleCounters>& into) {
  for (uint32_t slot = 0; slot < RECORDER_MAX_RULES; ++slot) {
    const uint64_t id = owner_[set][slot];
    if (id == 0) continue;
    auto now = read(set, slot);
    if (!now) continue;
    RuleCounters& seen = reported_[set][slot];
    RuleCounters& out = into[id];
    out.emit_fail_packets += now->emit_fail_packets - seen.emit_fail_packets;
    out.emit_fail_bytes += now->emit_fail_bytes - seen.emit_fail_bytes;
    out.matched_packets += now->matched_packets - seen.matched_packets;
    out.matched_bytes += now->matched_bytes - seen.matched_bytes;
    seen = *now;
  }
}

std::map<uint64_t, RuleCounters> RuleTable::take_losses() {
  fold(active_, pending_);
  std::map<uint64_t, RuleCounters> out;
  out.swap(pending_);
  return out;
}

}  // namespace recorder::datapath
