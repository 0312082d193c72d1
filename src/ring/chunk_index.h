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
// A ring builds a chunk's index as it writes the chunk (ChunkIndexBuilder, fed on the hot path
// with each packet's decoded fields and its record's place in the file), so closing a chunk never
// reads it back; build() reads a chunk through only when its index is missing (after a crash).
//
// The file ("chunk-<seq>.idx", written once the chunk is closed, never changed): a 64-byte
// header, then sections of fixed-size little-endian entries: packets {offset u64, time u64},
// address keys {family u8, pad, address[16], first u32, count u32} sorted by (family, address)
// so a CIDR is one contiguous range, port keys {port u16, pad, first, count}, protocol keys
// {protocol u8, pad, first, count}, the postings (u32 ordinals, ascending per key), and the
// pcapng interface table. load() maps the file; a query touches only the keys and postings it
// needs. Immutable once built or loaded: any thread may query it.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/page_allocator.h"
#include "common/result.h"
#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "ring/chunk_reader.h"
#include "sink/pcapng_encoder.h"
#include "storage/directory.h"

namespace recorder::ring {

struct IndexQuery {
  uint64_t from_ns = 0;             // inclusive
  uint64_t to_ns = UINT64_MAX;      // inclusive
  std::span<const Filter> filters;  // empty: every packet
};

class ChunkIndex;

// A built index's bytes: page-aligned, for direct I/O (chunk_index.cpp).
using IndexBytes = std::vector<uint8_t, PageAllocator<uint8_t>>;

// Collects what a chunk's index holds while the chunk is written. add() and
// note_interface_block() are the producer's (no allocation when the capacity was reserved:
// reserve() on the control side, before the chunk reaches the producer); finish() is the
// control side's, once the producer left the chunk. size_bound() tells, as it goes, how large
// the index file can be at most, so the ring keeps a chunk and its index within the chunk size.
//
// Per packet the producer writes 20 bytes: the packet's table entry as the file holds it
// (offset, time) and the number of its flow in a per-chunk flow table (the fields the index keys
// by, 40-byte fixed-size entries, found by comparing with the previous packet's flow, then
// through a direct-mapped cache under a multiplicative hash). A flow carries how many postings
// each of its packets adds, so nothing about a packet's addresses is compared per packet.
// finish() turns flows into keys (sorting only the distinct addresses, not the packets) and
// places every packet's postings with one counting pass in packet order, so each key's ordinals
// come out ascending without a sort. reserve() prefaults the tables (the control side pays the
// page faults, not the capture thread), and clear() keeps them, so a ring's next chunk reuses
// the memory of a closed one.
class ChunkIndexBuilder {
 public:
  ChunkIndexBuilder();
  ~ChunkIndexBuilder();
  ChunkIndexBuilder(ChunkIndexBuilder&&) noexcept;
  ChunkIndexBuilder& operator=(ChunkIndexBuilder&&) noexcept;
  // Room for `packets` packets, prefaulted (at most kPrefaultBytes of it); full() once they are
  // in, and packets added after that are left out (never an allocation on the hot path). A
  // builder given to the producer is reserved first; one never reserved takes any number.
  void reserve(size_t packets);
  bool full() const noexcept { return packets_.size() >= capacity_ && capacity_ != 0; }
  size_t capacity() const noexcept { return capacity_; }
  // Forgets every packet and flow, keeping the memory (for the next chunk).
  void clear() noexcept;

  // A packet and the fields dispatch decoded from it.
  void add(uint64_t offset, uint64_t timestamp_ns, const PacketInfo& info) noexcept {
    last_frame_ = CommonFrameKey{};
    append(offset, timestamp_ns, flow_of_decoded(info));
  }
  // A packet's bytes. Inline, for the ring's hot path: a common frame of the last flow (nearly
  // every packet) is recognized by its bytes, one of a flow seen lately through a small cache of
  // frame keys, neither decoded; the rest are decoded.
  [[gnu::always_inline]] void add(uint64_t offset, uint64_t timestamp_ns,
                                  std::span<const uint8_t> bytes, LinkType link_type) noexcept {
    if (!is_common_frame(bytes, link_type)) {
      add(offset, timestamp_ns, decode_packet(bytes, link_type));
      return;
    }
    const CommonFrameKey key = common_frame_key(bytes);
    if (key != last_frame_) {
      last_frame_ = key;
      last_key_[0] = 0xff;  // last_flow_ changes: no longer that of the fields in last_key_
      FrameSlot& slot = (*frame_cache_)[((key.addresses ^ key.rest * 0x9e3779b97f4a7c15ull) *
                                             0xff51afd7ed558ccdull >>
                                         40) %
                                        kFrameCache];
      if (slot.key == key) {
        last_flow_ = slot.flow;
      } else {
        // No compare with the fields just decoded (loads of what was just stored a byte at a
        // time wait for every store before them, a whole packet's copy included).
        slot = {key, flow_of(decode_packet(bytes, link_type))};
      }
    }
    append(offset, timestamp_ns, last_flow_);
  }
  // pcapng: an interface block at `offset` (read back at finish()).
  void note_interface_block(uint64_t offset) noexcept;
  std::span<const uint64_t> interface_blocks() const {
    return {interface_blocks_.data(), interface_block_count_};
  }

  uint64_t packets() const noexcept { return packets_.size(); }
  uint64_t size_bound() const noexcept;

  // The index; `interfaces`: the chunk's interface table (pcapng), by interface id.
  ChunkIndex finish(sink::FileFormat format, const std::vector<ChunkInterface>& interfaces) const;
  // The index of the chunk written to `chunk` (its file): the interface table is read from the
  // interface blocks noted (pcapng), nothing else.
  Result<ChunkIndex> finish(sink::FileFormat format, Fd chunk) const;
  // The same index, written as `name` in `dir` (as ChunkIndex::write()) from `out`, a buffer the
  // caller keeps for the next chunk's (a closer builds an index per chunk: fresh memory for each
  // would be faulted in, and zeroed, every time).
  Status write(const storage::Directory& dir, std::string_view name, sink::FileFormat format,
               Fd chunk, IndexBytes& out) const;

  // The most of the tables reserve() prefaults (a chunk of small packets may need more; the
  // rest faults in as it is written).
  static constexpr size_t kPrefaultBytes = 8u << 20;
  static constexpr size_t kMaxInterfaceBlocks = sink::PcapngEncoder::kSlots;
  static constexpr size_t kMaxInterfaceName = 255;  // longer names are cut
  // The most one packet adds to size_bound(): its table entry, five postings and five new keys
  // (two addresses, two ports, a protocol). The entry sizes are the file's (chunk_index.cpp).
  static constexpr uint64_t kMaxBytesPerPacket = 16 + 5 * 4 + 2 * 28 + 2 * 12 + 12;
  // The most the interface blocks noted add to size_bound() (pcapng).
  static constexpr uint64_t kInterfaceBlocksBound = kMaxInterfaceBlocks * (4 + kMaxInterfaceName);

 private:
  // The fields the index keys a packet by; packets of one flow share one entry.
  struct Flow {  // 40 bytes
    std::array<uint8_t, 16> source;
    std::array<uint8_t, 16> destination;
    uint16_t source_port, destination_port;
    uint8_t ip_version, protocol;
    bool has_protocol, has_ports;
  };
  struct Packet {  // the index file's packet entry
    uint64_t offset;
    uint64_t timestamp_ns;
  };
  static constexpr size_t kAddressCache = 1024;
  struct SeenAddress {
    uint64_t low = 0, high = 0;
    uint8_t family = 0;  // 0: an empty slot
  };
  // Flows recently seen, direct-mapped by a hash of the flow: a miss adds a flow entry (maybe
  // one already in flows_: the index is the same, flows_ only a little longer).
  static constexpr size_t kFlowCache = 4096;

  void count_address(uint8_t family, const std::array<uint8_t, 16>& address) noexcept;
  // The pcapng interface table, read from the interface blocks noted.
  Result<std::vector<ChunkInterface>> interface_table(Fd chunk) const;
  // The index file's bytes into `out` (resized to them), and where its sections start.
  void build(sink::FileFormat format, const std::vector<ChunkInterface>& interfaces,
             IndexBytes& out, std::vector<size_t>& section_start) const;
  void append(uint64_t offset, uint64_t timestamp_ns, uint32_t flow) noexcept {
    // Full (no next chunk was ready to rotate into): the packet is in the chunk but not in its
    // index, whose table never grows on the hot path; an index with fewer packets than its chunk
    // is built again from the file when the chunk is closed (Ring::close_index()).
    if (packets_.size() == capacity_ && capacity_ != 0) return;
    packets_.push_back(Packet{offset, timestamp_ns});
    packet_flows_.push_back(flow);
    postings_ += flow_postings_[flow];
  }
  uint32_t flow_of_decoded(const PacketInfo& info) noexcept {
    if (std::memcmp(&info, last_key_.data(), kFlowKeyBytes) == 0) return last_flow_;
    std::memcpy(last_key_.data(), &info, kFlowKeyBytes);
    return flow_of(info);
  }
  uint32_t new_flow(const PacketInfo& info, uint32_t& slot) noexcept;
  // The flow of a packet that is not the last flow's: through the cache, or a new one; it becomes
  // last_flow_.
  uint32_t flow_of(const PacketInfo& info) noexcept;
  // Word-wise: IPv4 addresses as the 4 bytes the decoder stored (a load of exactly those is
  // forwarded from that store, where a wider one would stall on it), the rest in one word.
  template <typename T>
  static uint64_t small_fields(const T& f) noexcept {
    return uint64_t{f.source_port} | uint64_t{f.destination_port} << 16 |
           uint64_t{f.ip_version} << 32 | uint64_t{f.protocol} << 40 |
           uint64_t{f.has_protocol} << 48 | uint64_t{f.has_ports} << 56;
  }
  static uint64_t word(const std::array<uint8_t, 16>& bytes, size_t at) noexcept {
    uint64_t v;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    return v;
  }
  static uint64_t ipv4_word(const std::array<uint8_t, 16>& bytes) noexcept {
    uint32_t v;
    std::memcpy(&v, bytes.data(), sizeof v);
    return v;
  }
  static bool same_flow(const Flow& seen, const PacketInfo& info) noexcept {
    if (info.ip_version == 4) {
      return word(seen.source, 0) == ipv4_word(info.source) && word(seen.source, 8) == 0 &&
             word(seen.destination, 0) == ipv4_word(info.destination) &&
             word(seen.destination, 8) == 0 && small_fields(seen) == small_fields(info);
    }
    return word(seen.source, 0) == word(info.source, 0) &&
           word(seen.source, 8) == word(info.source, 8) &&
           word(seen.destination, 0) == word(info.destination, 0) &&
           word(seen.destination, 8) == word(info.destination, 8) &&
           small_fields(seen) == small_fields(info);
  }

  std::vector<Packet> packets_;
  std::vector<uint32_t> packet_flows_;  // by packet: its flow in flows_
  std::vector<Flow> flows_;
  std::vector<uint8_t> flow_postings_;  // by flow: the postings each of its packets adds
  std::unique_ptr<std::array<uint32_t, kFlowCache>> flow_cache_;  // flow + 1 (0: empty)
  // The flow of the packet added last. Two ways to recognize its packets: the PacketInfo up to
  // `incomplete` (the fields a flow keys by, without padding) as bytes, set by the decoded path
  // (an ip_version of 0xff matches no packet), and the common frame's key, set by the bytes path;
  // each is reset when the other path changes last_flow_.
  static constexpr size_t kFlowKeyBytes = offsetof(PacketInfo, incomplete);
  static_assert(kFlowKeyBytes == 1 + 16 + 16 + 1 + 1 + 1 + 2 + 2, "PacketInfo has no padding");
  uint32_t last_flow_ = 0;
  std::array<uint8_t, kFlowKeyBytes> last_key_{0xff};
  CommonFrameKey last_frame_;
  // Common frames' keys seen lately, direct-mapped, with their flows (an empty slot's key
  // matches no frame).
  struct FrameSlot {
    CommonFrameKey key;
    uint32_t flow = 0;
  };
  static constexpr size_t kFrameCache = 256;
  std::unique_ptr<std::array<FrameSlot, kFrameCache>> frame_cache_;
  size_t capacity_ = 0;
  // For size_bound(): postings, distinct ports and protocols (exact), and addresses (a
  // direct-mapped cache of those seen: a miss counts as a new key, so the count is an upper bound).
  uint64_t postings_ = 0;
  uint64_t address_keys_ = 0;
  uint64_t port_keys_ = 0;
  uint64_t protocol_keys_ = 0;
  std::unique_ptr<std::bitset<65536>> ports_seen_;
  std::bitset<256> protocols_seen_;
  std::unique_ptr<std::array<SeenAddress, kAddressCache>> addresses_seen_;
  std::array<uint64_t, kMaxInterfaceBlocks> interface_blocks_{};
  size_t interface_block_count_ = 0;
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
  friend class ChunkIndexBuilder;
  ChunkIndex() = default;
  struct Header;
  const Header& header() const;
  std::span<const uint8_t> section(size_t which) const;
  void candidates_of(const Filter& filter, const IndexQuery& query,
                     std::vector<uint32_t>& out) const;

  IndexBytes owned_;         // a built index
  void* mapping_ = nullptr;  // a loaded one
  size_t mapping_size_ = 0;
  std::span<const uint8_t> bytes_;     // the serialized index, either way
  std::vector<size_t> section_start_;  // byte offsets of the sections in bytes_
};

}  // namespace recorder::ring
