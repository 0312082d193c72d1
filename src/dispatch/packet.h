// CapturedPacket: one packet as a source hands it to dispatch.
//
// The bytes are borrowed: they stay valid only for the duration of the call that passes the
// packet (Dispatcher::on_packet). Whoever keeps them must copy them (the sink queue does, once).
#pragma once

#include <cstdint>
#include <span>

#include "recorder/recorder_abi.h"

namespace recorder {

struct PacketInfo;

enum class Direction : uint8_t {
  kUnknown = RECORDER_DIR_UNKNOWN,
  kIngress = RECORDER_DIR_INGRESS,
  kEgress = RECORDER_DIR_EGRESS,
};

// pcap LINKTYPE_* value of the captured bytes.
enum class LinkType : uint16_t {
  kEthernet = RECORDER_LINK_ETHERNET,
  kRaw = RECORDER_LINK_RAW,
};

using RuleMask = recorder_rule_mask;

struct CapturedPacket {
  uint64_t timestamp_ns = 0;     // wall clock, ns since the Unix epoch
  uint32_t ifindex = 0;          // 0 when unknown (e.g. replayed from a file)
  uint32_t original_length = 0;  // length on the wire; >= data.size()
  Direction direction = Direction::kUnknown;
  LinkType link_type = LinkType::kEthernet;
  std::span<const uint8_t> data;  // the captured bytes
  // Set by the eBPF source: the rules the kernel matched. When null, dispatch classifies the
  // packet itself with the user-space classifier.
  const RuleMask* kernel_rules = nullptr;
  // With kernel_rules: the generation of the rule table the kernel classified the packet with
  // (RoutingTable::generation); dispatch accepts a rule bit only if its slot still belongs to
  // the same rule as in that generation.
  uint32_t rule_generation = 0;
  // The packet's decoded fields when dispatch decoded `data` to classify it (a source without
  // kernel bits), so a sink that indexes packets does not decode them again; null otherwise,
  // and cleared when a recording cuts the bytes to its snap length. Borrowed like `data`.
  const PacketInfo* decoded = nullptr;
};

}  // namespace recorder
