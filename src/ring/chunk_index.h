// ChunkIndex: what a snapshot needs to find packets in one closed chunk without reading it all:
// its time range, a table of every packet's file offset and timestamp, and three inverted
// indexes (Stenographer's per-file design) from an address, a port and an L4 protocol to the
// ordinals of the packets that carry it (either side: source or destination).
//
// A query (time range, filters) takes, per filter, the posting list of its most selective field
// (the one with the fewest packets: an address range of a CIDR, a port, the protocol), keeps the
// ordinals in the time range and merges the filters' lists. That is a superset of the matching
// packets, and a small one for a narrow filter; the caller reads each candidate and checks it
// with matches(), the one definition of a match. A filter without any field set (any 0 any 0 ANY)
// takes every packet of the time range.
//
// The file ("chunk-<seq>.idx", written once the chunk is closed, never changed): a 64-byte
// header, then sections of fixed-size little-endian entries: packets {offset u64, time u64},
// address keys {family u8, pad, address[16], first u32, count u32} sorted by (family, address)
// so a CIDR is one contiguous range, port keys {port u16, pad, first, count}, protocol keys
// {protocol u8, pad, first, count}, the postings (u32 ordinals, ascending per key), and the
// pcapng interface table. load() maps the file; a query touches only the keys and postings it
// needs. Immutable once built or loaded: any thread may query it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "dispatch/filter.h"
#include "ring/chunk_reader.h"
#include "storage/directory.h"

namespace recorder::ring {

struct IndexQuery {
  uint64_t from_ns = 0;             // inclusive
  uint64_t to_ns = UINT64_MAX;      // inclusive
  std::span<const Filter> filters;  // empty: every packet
};

class ChunkIndex {
 public:
  // Reads every packet of the chunk (from its first record) and builds the index.
  static Result<ChunkIndex> build(ChunkReader& reader);
  // Maps the index file `name` in `dir`; INVALID_ARGUMENT when it is not a valid index.
  static Result<ChunkIndex> load(const storage::Directory& dir, std::string_view name);
  // Writes the index as `name` in `dir` (a hidden temporary, fsync()ed, renamed).
  Status write(const storage::Directory& dir, std::string_view name) const;

  ChunkIndex(ChunkIndex&&) noexcept;
  ChunkIndex& operator=(ChunkIndex&&) noexcept;
  ~ChunkIndex();

  uint64_t packets() const;
  uint64_t first_ns() const;  // 0 when the chunk has no packet
  uint64_t last_ns() const;
  sink::FileFormat format() const;
  std::vector<ChunkInterface> interfaces() const;
  uint64_t offset(uint32_t ordinal) const;
  uint64_t timestamp(uint32_t ordinal) const;

  // Ordinals, ascending, of the packets in the time range that may match one of the filters (a
  // superset of those that do; see above).
  std::vector<uint32_t> candidates(const IndexQuery& query) const;

  size_t size_bytes() const { return bytes_.size(); }

 private:
  ChunkIndex() = default;
  struct Header;
  const Header& header() const;
  std::span<const uint8_t> section(size_t which) const;
  void candidates_of(const Filter& filter, const IndexQuery& query,
                     std::vector<uint32_t>& out) const;

  std::vector<uint8_t> owned_;  // a built index
  void* mapping_ = nullptr;     // a loaded one
  size_t mapping_size_ = 0;
  std::span<const uint8_t> bytes_;     // the serialized index, either way
  std::vector<size_t> section_start_;  // byte offsets of the sections in bytes_
};

}  // namespace recorder::ring
