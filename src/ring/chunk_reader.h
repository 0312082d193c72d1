// ChunkReader: reads the packet records of a chunk file the ring wrote (pcap with nanosecond
// timestamps, or pcapng as PcapngEncoder writes it), in file order or at a given record offset.
// Used to build a chunk's index and to read the packets a snapshot selects. Reads through a
// 1 MiB window (sink/window_reader.h), so a walk costs few syscalls; stops at the first record
// that is incomplete (the end of a chunk still being written).
//
// Owns the fd it is given (a snapshot keeps a chunk readable after the ring deleted its name).
// Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "dispatch/packet.h"
#include "sink/sink.h"
#include "sink/window_reader.h"

namespace recorder::ring {

struct ChunkInterface {
  LinkType link_type = LinkType::kEthernet;
  std::string name;  // pcapng if_name; empty for pcap
};

struct ChunkPacket {
  uint64_t offset = 0;  // of its record in the file
  uint64_t timestamp_ns = 0;
  uint32_t original_length = 0;
  uint32_t interface_id = 0;  // pcapng; 0 for pcap
  Direction direction = Direction::kUnknown;
  std::span<const uint8_t> data;  // valid until the next read
};

class ChunkReader {
 public:
  // Reads the file header; `limit` bounds what is read (0: the file's size now).
  static Result<ChunkReader> open(Fd fd, uint64_t limit = 0);

  sink::FileFormat format() const { return format_; }
  uint64_t limit() const { return limit_; }

  // The next packet record in file order (pcapng interface blocks on the way are taken in);
  // nullopt at the end or at the first incomplete record.
  Result<std::optional<ChunkPacket>> next();
  // The packet record at `offset` (as ChunkPacket::offset gave it).
  Result<ChunkPacket> read_at(uint64_t offset);

  // Takes the pcapng interface block at `offset` into the interface table (a chunk's blocks, in
  // file order, give the table without reading the packets between them).
  Status read_interface_block(uint64_t offset);

  // Interface blocks seen so far (pcapng), by interface id; set_interfaces() gives the table
  // (from the chunk's index) before read_at() on a pcapng chunk.
  const std::vector<ChunkInterface>& interfaces() const { return interfaces_; }
  void set_interfaces(std::vector<ChunkInterface> interfaces) {
    interfaces_ = std::move(interfaces);
  }
  // The link type of a packet's bytes.
  LinkType link_type(const ChunkPacket& packet) const;

  // A packet as dispatch hands it on (ifindex from the interface's name where it still exists).
  CapturedPacket captured(const ChunkPacket& packet);

 private:
  ChunkReader(Fd fd, uint64_t limit, sink::FileFormat format);
  // Parses the record at `offset`; nullopt when incomplete; `end` gets its end offset. Interface
  // blocks are taken into the table and skipped when `skip_other` (sequential reads).
  Result<std::optional<ChunkPacket>> parse(uint64_t offset, uint64_t& end);

  Fd fd_;
  uint64_t limit_;
  sink::FileFormat format_;
  sink::WindowReader reader_;
  uint64_t position_ = 0;  // next record for next()
  std::vector<ChunkInterface> interfaces_;
  std::vector<uint32_t> ifindex_;  // by interface id, resolved from the names once
};

}  // namespace recorder::ring
