#include "ring/snapshot.h"

#include <fmt/format.h>

#include "dispatch/packet_info.h"

namespace recorder::ring {

Status select_packets(std::vector<SnapshotChunk> chunks, const IndexQuery& query,
                      const std::function<Status(const CapturedPacket&)>& emit,
                      SnapshotCounts* counts) {
  SnapshotCounts local;
  SnapshotCounts& n = counts != nullptr ? *counts : local;
  for (auto& chunk : chunks) {
    if (chunk.index && (chunk.index->packets() == 0 || query.to_ns < chunk.index->first_ns() ||
                        query.from_ns > chunk.index->last_ns())) {
      continue;  // nothing of the range in it
    }
    auto reader = ChunkReader::open(std::move(chunk.fd), chunk.limit);
    if (!reader) return std::move(reader).error().wrap(fmt::format("snapshot chunk {}", chunk.seq));
    ++n.chunks;
    auto take = [&](const ChunkPacket& p) -> Status {
      ++n.packets_examined;
      if (p.timestamp_ns < query.from_ns || p.timestamp_ns > query.to_ns) return ok_status();
      if (!query.filters.empty()) {
        const PacketInfo info = decode_packet(p.data, reader->link_type(p));
        bool any = false;
        for (const Filter& f : query.filters) any = any || matches(f, info);
        if (!any) return ok_status();
      }
      ++n.packets_selected;
      return emit(reader->captured(p));
    };
    if (chunk.index) {
      reader->set_interfaces(chunk.index->interfaces());
      for (uint32_t ordinal : chunk.index->candidates(query)) {
        auto p = reader->read_at(chunk.index->offset(ordinal));
        if (!p) return std::move(p).error().wrap(fmt::format("snapshot chunk {}", chunk.seq));
        if (auto s = take(*p); !s) return s;
      }
    } else {
      for (;;) {
        auto p = reader->next();
        if (!p) return std::move(p).error().wrap(fmt::format("snapshot chunk {}", chunk.seq));
        if (!*p) break;
        if (auto s = take(**p); !s) return s;
      }
    }
  }
  return ok_status();
}

}  // namespace recorder::ring
