#include "relay/pcapng_reader.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "sink/encoded_record.h"
#include "sink/pcapng_encoder.h"

namespace recorder::relay {
namespace {

// The block types the daemons' encoder writes (sink/pcapng_encoder.h).
constexpr uint32_t kSectionHeader = sink::PcapngEncoder::kBlockSectionHeader;
constexpr uint32_t kInterfaceDescription = sink::PcapngEncoder::kBlockInterfaceDescription;
constexpr uint32_t kInterfaceStatistics = sink::PcapngEncoder::kBlockInterfaceStatistics;
constexpr uint32_t kEnhancedPacket = sink::PcapngEncoder::kBlockEnhancedPacket;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr size_t kStdioBuffer = 256u << 10;
constexpr uint32_t kPcapMicroseconds = 0xa1b2c3d4;
constexpr uint32_t kPcapNanoseconds = 0xa1b23c4d;

using sink::get_u16;
using sink::get_u32;

// A timestamp in units of if_tsresol, in nanoseconds.
uint64_t to_ns(uint64_t ticks, uint8_t tsresol) {
  const unsigned exponent = tsresol & 0x7f;
  if (tsresol & 0x80) {  // negative power of 2
    return static_cast<uint64_t>((static_cast<unsigned __int128>(ticks) * 1000000000u) >> exponent);
  }
  uint64_t scale = 1;
  if (exponent <= 9) {
    for (unsigned i = exponent; i < 9; ++i) scale *= 10;
    return ticks * scale;
  }
  for (unsigned i = 9; i < exponent && i < 29; ++i) scale *= 10;
  return ticks / scale;
}

}  // namespace

PcapngReader::PcapngReader(std::filesystem::path path, std::FILE* file)
    : path_(std::move(path)), file_(file), stdio_buffer_(kStdioBuffer) {
  std::setvbuf(file_, stdio_buffer_.data(), _IOFBF, stdio_buffer_.size());
}

PcapngReader::~PcapngReader() { std::fclose(file_); }

Result<std::unique_ptr<PcapngReader>> PcapngReader::open(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rbe");
  if (file == nullptr) {
    return Error::from_errno("open " + path.string(), errno, ErrorCode::kNotFound);
  }
  std::unique_ptr<PcapngReader> reader(new PcapngReader(path, file));
  uint8_t pcap_header[24];
  if (std::fread(pcap_header, 1, sizeof(pcap_header), file) == sizeof(pcap_header)) {
    const uint32_t magic = get_u32(pcap_header);
    for (bool swapped : {false, true}) {
      const uint32_t m = swapped ? __builtin_bswap32(magic) : magic;
      if (m != kPcapMicroseconds && m != kPcapNanoseconds) continue;
      auto field = [&](size_t off) {
        const uint32_t v = get_u32(pcap_header + off);
        return swapped ? __builtin_bswap32(v) : v;
      };
      PcapngInterface itf;
      itf.link_type = static_cast<uint16_t>(field(20) & 0xffff);
      itf.snap_length = field(16);
      itf.tsresol = m == kPcapNanoseconds ? 9 : 6;
      reader->interfaces_.push_back(itf);
      reader->interfaces_scanned_ = true;
      reader->pcap_ = true;
      reader->pcap_swapped_ = swapped;
      reader->offset_ = reader->first_block_ = sizeof(pcap_header);
      return reader;
    }
  }
  if (std::fseek(file, 0, SEEK_SET) != 0) return Error::from_errno("seek " + path.string(), errno);
  auto got = reader->read_block();
  if (!got) return got.error();
  const auto& b = reader->block_;
  if (!*got || get_u32(b.data()) != kSectionHeader || b.size() < 28) {
    return Error(ErrorCode::kInvalidArgument,
                 path.string() + ": not a pcapng file (no section header block)");
  }
  if (get_u32(b.data() + 8) != kByteOrderMagic) {
    return Error(ErrorCode::kInvalidArgument,
                 path.string() + ": big-endian pcapng sections are not supported");
  }
  reader->first_block_ = reader->offset_;
  return reader;
}

Result<bool> PcapngReader::read_pcap_record() {
  uint8_t head[16];
  const size_t got = std::fread(head, 1, sizeof(head), file_);
  if (got == 0 && std::feof(file_)) return false;
  if (got != sizeof(head)) {
    if (std::ferror(file_)) return Error::from_errno("read " + path_.string(), errno);
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{}: truncated record header at offset {}", path_.string(), offset_));
  }
  auto field = [&](size_t off) {
    const uint32_t v = get_u32(head + off);
    return pcap_swapped_ ? __builtin_bswap32(v) : v;
  };
  const uint32_t captured = field(8);
  if (captured > kMaxBlock - 36) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("{}: bad record length {} at offset {}",
                                                          path_.string(), captured, offset_));
  }
  // The enhanced packet block pcapng would hold: timestamp in the file's resolution (if_tsresol
  // 6 or 9), interface 0, data padded to 4 bytes, no options.
  const uint32_t padded = (captured + 3u) & ~3u;
  const uint32_t length = 32 + padded;
  block_.assign(length, 0);
  const uint64_t ticks =
      static_cast<uint64_t>(field(0)) * (interfaces_[0].tsresol == 9 ? 1000000000u : 1000000u) +
      field(4);
  const uint32_t words[7] = {kEnhancedPacket,
                             length,
                             0,
                             static_cast<uint32_t>(ticks >> 32),
                             static_cast<uint32_t>(ticks),
                             captured,
                             field(12)};
  std::memcpy(block_.data(), words, sizeof(words));
  if (std::fread(block_.data() + 28, 1, captured, file_) != captured) {
    if (std::ferror(file_)) return Error::from_errno("read " + path_.string(), errno);
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{}: truncated record at offset {}", path_.string(), offset_));
  }
  std::memcpy(block_.data() + length - 4, &length, sizeof(length));
  offset_ += sizeof(head) + captured;
  return true;
}

Result<bool> PcapngReader::read_block() {
  if (pcap_) return read_pcap_record();
  uint8_t head[8];
  const size_t got = std::fread(head, 1, sizeof(head), file_);
  if (got == 0 && std::feof(file_)) return false;
  if (got != sizeof(head)) {
    if (std::ferror(file_)) return Error::from_errno("read " + path_.string(), errno);
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{}: truncated block header at offset {}", path_.string(), offset_));
  }
  const uint32_t length = get_u32(head + 4);
  if (length < 12 || length % 4 != 0 || length > kMaxBlock) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("{}: bad block length {} at offset {}",
                                                          path_.string(), length, offset_));
  }
  block_.resize(length);
  std::memcpy(block_.data(), head, sizeof(head));
  if (std::fread(block_.data() + 8, 1, length - 8, file_) != length - 8) {
    if (std::ferror(file_)) return Error::from_errno("read " + path_.string(), errno);
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{}: truncated block at offset {}", path_.string(), offset_));
  }
  if (get_u32(block_.data() + length - 4) != length) {
    return Error(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: block at offset {}: trailing length differs", path_.string(), offset_));
  }
  offset_ += length;
  return true;
}

Status PcapngReader::add_interface(std::span<const uint8_t> block) {
  if (block.size() < 20) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{}: interface block too short", path_.string()));
  }
  PcapngInterface itf;
  itf.link_type = get_u16(block.data() + 8);
  itf.snap_length = get_u32(block.data() + 12);
  // Options: code, length, value padded to 4; up to the trailing length.
  size_t off = 16;
  const size_t end = block.size() - 4;
  while (off + 4 <= end) {
    const uint16_t code = get_u16(block.data() + off);
    const uint16_t len = get_u16(block.data() + off + 2);
    if (code == 0 || off + 4 + len > end) break;
    const auto* value = reinterpret_cast<const char*>(block.data() + off + 4);
    if (code == 2) itf.name.assign(value, len);
    if (code == 3) itf.description.assign(value, len);
    if (code == 9 && len >= 1) itf.tsresol = static_cast<uint8_t>(value[0]);
    off += 4 + ((len + 3u) & ~3u);
  }
  interfaces_.push_back(std::move(itf));
  return ok_status();
}

Status PcapngReader::scan_interfaces() {
  if (interfaces_scanned_) return ok_status();
  uint64_t off = first_block_;
  for (;;) {
    if (std::fseek(file_, static_cast<long>(off), SEEK_SET) != 0) {
      return Error::from_errno("seek " + path_.string(), errno);
    }
    uint8_t head[8];
    const size_t got = std::fread(head, 1, sizeof(head), file_);
    if (got < sizeof(head)) break;  // the end (a torn tail is reported by next())
    const uint32_t type = get_u32(head);
    const uint32_t length = get_u32(head + 4);
    if (length < 12 || length % 4 != 0 || length > kMaxBlock) break;
    if (type == kSectionHeader) break;
    if (type == kInterfaceDescription) {
      offset_ = off;
      if (std::fseek(file_, static_cast<long>(off), SEEK_SET) != 0) {
        return Error::from_errno("seek " + path_.string(), errno);
      }
      auto read = read_block();
      if (!read) return read.error();
      if (!*read) break;
      if (auto s = add_interface(block_); !s) return s;
    }
    off += length;
  }
  interfaces_scanned_ = true;
  offset_ = first_block_;
  if (std::fseek(file_, static_cast<long>(first_block_), SEEK_SET) != 0) {
    return Error::from_errno("seek " + path_.string(), errno);
  }
  return ok_status();
}

Result<bool> PcapngReader::next(PcapngPacket& out) {
  for (;;) {
    const uint64_t at = offset_;
    auto got = read_block();
    if (!got) return got.error();
    if (!*got) return false;
    const uint32_t type = get_u32(block_.data());
    if (type == kSectionHeader) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("{}: a second section at offset {} (one section per file)",
                               path_.string(), at));
    }
    if (type == kInterfaceDescription) {
      if (interfaces_scanned_ && idb_seen_ < interfaces_.size()) {
        ++idb_seen_;
        continue;
      }
      if (auto s = add_interface(block_); !s) return s.error();
      ++idb_seen_;
      continue;
    }
    if (type == kInterfaceStatistics) {
      if (block_.size() >= 24 && statistics_.size() <= interfaces_.size()) {
        statistics_.push_back(block_);
      }
      continue;
    }
    if (type != kEnhancedPacket) continue;
    if (block_.size() < 32) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("{}: packet block too short at offset {}", path_.string(), at));
    }
    out.interface_id = get_u32(block_.data() + 8);
    if (out.interface_id >= interfaces_.size()) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("{}: packet at offset {} names interface {} before its "
                               "description",
                               path_.string(), at, out.interface_id));
    }
    const uint64_t ticks =
        (static_cast<uint64_t>(get_u32(block_.data() + 12)) << 32) | get_u32(block_.data() + 16);
    out.timestamp_ns = to_ns(ticks, interfaces_[out.interface_id].tsresol);
    out.captured_length = get_u32(block_.data() + 20);
    out.original_length = get_u32(block_.data() + 24);
    if (out.captured_length > block_.size() - 32) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("{}: packet at offset {}: captured length beyond its block",
                               path_.string(), at));
    }
    out.data = std::span<const uint8_t>(block_.data() + 28, out.captured_length);
    out.block = std::span<const uint8_t>(block_.data(), block_.size());
    return true;
  }
}

}  // namespace recorder::relay
