// PcapngReader: reads a pcapng file block by block through bounded memory, for the merge of the
// nodes' files (merge.h holds one reader per node open at once: each keeps a 256 KiB stdio buffer
// and the current block, at most kMaxBlock bytes, never the file).
//
// It reads what the daemons write (sink/pcapng_encoder.h) and any other single-section
// little-endian pcapng: interface description blocks (link type, snap length, if_name,
// if_description, if_tsresol), enhanced packet blocks, and skips every other block type. A
// second section header, a big-endian section or a block whose length fields disagree is an
// error naming the offset.
// It also reads classic pcap (either byte order, microsecond or nanosecond timestamps: a ring's
// snapshot is pcap when the ring is): one interface without a name (link type and snap length
// from the file header), each record handed out as the enhanced packet block pcapng would hold.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace recorder::relay {

struct PcapngInterface {
  uint16_t link_type = 0;
  uint32_t snap_length = 0;
  std::string name;         // if_name; empty when absent
  std::string description;  // if_description; empty when absent
  uint8_t tsresol = 6;      // if_tsresol as in the file (default 6: microseconds)
};

// One enhanced packet block, valid until the next call to next().
struct PcapngPacket {
  uint32_t interface_id = 0;
  uint64_t timestamp_ns = 0;  // converted with the interface's if_tsresol
  uint32_t captured_length = 0;
  uint32_t original_length = 0;
  std::span<const uint8_t> data;   // captured bytes
  std::span<const uint8_t> block;  // the whole block as in the file (options included)
};

class PcapngReader {
 public:
  static constexpr uint32_t kMaxBlock = 16u << 20;

  // Opens `path` and reads its section header block.
  static Result<std::unique_ptr<PcapngReader>> open(const std::filesystem::path& path);
  ~PcapngReader();
  PcapngReader(const PcapngReader&) = delete;
  PcapngReader& operator=(const PcapngReader&) = delete;

  // Walks the whole file for its interface description blocks (seeking over the others), then
  // goes back to the first block after the section header. After it, interfaces() is complete.
  Status scan_interfaces();

  // The next packet into `out`: true, or false at the end of the file. Interface blocks met on
  // the way are added to interfaces().
  Result<bool> next(PcapngPacket& out);

  const std::vector<PcapngInterface>& interfaces() const { return interfaces_; }
  // The interface statistics blocks next() has passed, as in the file (the daemons write one per
  // interface when the file is closed, with the drop count in isb_ifdrop): at most one per
  // interface is kept.
  const std::vector<std::vector<uint8_t>>& statistics() const { return statistics_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  PcapngReader(std::filesystem::path path, std::FILE* file);
  // Reads the next block into block_; false at a clean end of file.
  Result<bool> read_block();
  // Classic pcap: reads the next record into block_ as an enhanced packet block.
  Result<bool> read_pcap_record();
  Status add_interface(std::span<const uint8_t> block);

  std::filesystem::path path_;
  std::FILE* file_;
  std::vector<char> stdio_buffer_;
  std::vector<uint8_t> block_;
  uint64_t offset_ = 0;       // of the next block
  uint64_t first_block_ = 0;  // after the section header
  bool interfaces_scanned_ = false;
  bool pcap_ = false;          // classic pcap, not pcapng
  bool pcap_swapped_ = false;  // its header and records are in the other byte order
  size_t idb_seen_ = 0;        // interface blocks next() has passed
  std::vector<PcapngInterface> interfaces_;
  std::vector<std::vector<uint8_t>> statistics_;
};

}  // namespace recorder::relay
