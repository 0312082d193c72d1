// filter_selection.h: what a recording of some filters should hold, worked out from the packets
// themselves: the records of a capture in a time range that recorder::matches() selects for any
// of the filters (filter texts as recorderctl takes them). Header-only; link recorder_dispatch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "pcap_file.h"

namespace recorder::test {

// The records of `all` stamped from `from` to `to` (inclusive) that any of `filters` matches
// (every one of them when `filters` is empty), in their order.
inline std::vector<PcapRecord> select(const std::vector<PcapRecord>& all, uint64_t from,
                                      uint64_t to, const std::vector<std::string>& filters) {
  std::vector<Filter> parsed;
  for (const auto& f : filters) parsed.push_back(*parse_filter(f));
  std::vector<PcapRecord> out;
  for (const auto& r : all) {
    if (r.timestamp_ns < from || r.timestamp_ns > to) continue;
    const PacketInfo info = decode_packet(r.data, LinkType::kEthernet);
    bool any = parsed.empty();
    for (const auto& f : parsed) any = any || matches(f, info);
    if (any) out.push_back(r);
  }
  return out;
}

}  // namespace recorder::test
