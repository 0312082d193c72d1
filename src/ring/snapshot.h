// Snapshot selection: the packets of a ring's chunks in a time range that match the filters, in
// capture-time order across chunks (chunk after chunk, file order within one). A chunk with an
// index is read only at the index's candidates (chunk_index.h); one without (the chunk being
// written, one closed a moment ago, one whose index is missing) is read through. Every packet
// handed on passed matches() against one of the filters (none: all match).
//
// The chunks come with their fds already open: the ring may delete a chunk's name meanwhile
// (retention), the open fd keeps its bytes readable, so a snapshot is never cut by a deletion.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "ring/chunk_index.h"

namespace recorder::ring {

struct SnapshotChunk {
  uint64_t seq = 0;
  Fd fd;
  uint64_t limit = 0;                       // bytes to read (0: the file's size when opened)
  std::shared_ptr<const ChunkIndex> index;  // null: read the chunk through
};

struct SnapshotCounts {
  uint64_t chunks = 0;            // chunks read
  uint64_t packets_examined = 0;  // packet records read and checked
  uint64_t packets_selected = 0;  // handed on
};

// Calls `emit` for each selected packet (its bytes valid during the call); stops at the first
// error of a read or of `emit`.
Status select_packets(std::vector<SnapshotChunk> chunks, const IndexQuery& query,
                      const std::function<Status(const CapturedPacket&)>& emit,
                      SnapshotCounts* counts = nullptr);

}  // namespace recorder::ring
