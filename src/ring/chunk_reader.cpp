#include "ring/chunk_reader.h"

#include <net/if.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "sink/pcap_encoder.h"
#include "sink/pcapng_encoder.h"

namespace recorder::ring {
namespace {

constexpr uint64_t kPcapHeader = 24;
constexpr uint32_t kMaxRecord = 1u << 20;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kEpbFlags = 2;

uint32_t u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint16_t u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

}  // namespace

ChunkReader::ChunkReader(Fd fd, uint64_t limit, sink::FileFormat format)
    : fd_(std::move(fd)), limit_(limit), format_(format), reader_(fd_.get(), limit) {}

Result<ChunkReader> ChunkReader::open(Fd fd, uint64_t limit) {
  if (limit == 0) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Error::from_errno("read chunk: stat", errno);
    limit = static_cast<uint64_t>(st.st_size);
  }
  sink::WindowReader probe(fd.get(), limit);
  const uint8_t* head = probe.at(0, 12);
  if (head == nullptr) {
    return Error(ErrorCode::kInvalidArgument, "read chunk: no complete file header");
  }
  sink::FileFormat format;
  uint64_t first = 0;
  if (u32(head) == sink::PcapEncoder::kMagicNanoseconds) {
    format = sink::FileFormat::kPcap;
    first = kPcapHeader;
  } else if (u32(head) == sink::PcapngEncoder::kBlockSectionHeader && u32(head + 8) == 0x1A2B3C4D) {
    format = sink::FileFormat::kPcapng;
  } else {
    return Error(ErrorCode::kInvalidArgument,
                 "read chunk: not a nanosecond pcap or a pcapng file the recorder wrote");
  }
  ChunkReader reader(std::move(fd), limit, format);
  reader.position_ = first;
  return reader;
}

LinkType ChunkReader::link_type(const ChunkPacket& packet) const {
  if (format_ == sink::FileFormat::kPcap) return LinkType::kEthernet;
  return packet.interface_id < interfaces_.size() ? interfaces_[packet.interface_id].link_type
                                                  : LinkType::kEthernet;
}

CapturedPacket ChunkReader::captured(const ChunkPacket& packet) {
  CapturedPacket out;
  out.timestamp_ns = packet.timestamp_ns;
  out.original_length = packet.original_length;
  out.direction = packet.direction;
  out.link_type = link_type(packet);
  out.data = packet.data;
  if (format_ == sink::FileFormat::kPcapng && packet.interface_id < interfaces_.size()) {
    // A pcapng snapshot names the interface again: the ifindex is resolved from the name, once
    // per interface (0 when it is gone: the snapshot's interface block then says "if0").
    if (ifindex_.size() != interfaces_.size()) {
      ifindex_.clear();
      for (const auto& itf : interfaces_) {
        ifindex_.push_back(itf.name.empty() ? 0 : ::if_nametoindex(itf.name.c_str()));
      }
    }
    out.ifindex = ifindex_[packet.interface_id];
  }
  return out;
}

Result<std::optional<ChunkPacket>> ChunkReader::next() {
  for (;;) {
    uint64_t end = 0;
    auto parsed = parse(position_, end);
    if (!parsed) return std::move(parsed).error();
    if (end == 0) return std::optional<ChunkPacket>();  // the end, or an incomplete record
    position_ = end;
    if (*parsed) return parsed;
  }
}

Result<ChunkPacket> ChunkReader::read_at(uint64_t offset) {
  uint64_t end = 0;
  auto parsed = parse(offset, end);
  if (!parsed) return std::move(parsed).error();
  if (!*parsed) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("read chunk: no complete packet record at offset {}", offset));
  }
  return **parsed;
}

Status ChunkReader::read_interface_block(uint64_t offset) {
  const size_t before = interfaces_.size();
  uint64_t end = 0;
  auto parsed = parse(offset, end);
  if (!parsed) return std::move(parsed).error();
  if (format_ != sink::FileFormat::kPcapng || end == 0 || interfaces_.size() != before + 1) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("read chunk: no interface block at offset {}", offset));
  }
  return ok_status();
}

Result<std::optional<ChunkPacket>> ChunkReader::parse(uint64_t offset, uint64_t& end) {
  end = 0;
  auto failed = [&]() -> Result<std::optional<ChunkPacket>> {
    if (reader_.error() != 0) return Error::from_errno("read chunk", reader_.error());
    return std::optional<ChunkPacket>();
  };
  ChunkPacket p;
  p.offset = offset;
  if (format_ == sink::FileFormat::kPcap) {
    const uint8_t* h = reader_.at(offset, 16);
    if (h == nullptr) return failed();
    const uint32_t caplen = u32(h + 8);
    if (caplen > kMaxRecord) return failed();
    const uint8_t* d = reader_.at(offset, 16 + caplen);
    if (d == nullptr) return failed();
    p.timestamp_ns = uint64_t{u32(d)} * 1000000000u + u32(d + 4);
    p.original_length = u32(d + 12);
    p.data = {d + 16, caplen};
    end = offset + 16 + caplen;
    return std::optional<ChunkPacket>(p);
  }
  const uint8_t* h = reader_.at(offset, 8);
  if (h == nullptr) return failed();
  const uint32_t type = u32(h);
  const uint32_t len = u32(h + 4);
  if (len < 12 || len % 4 != 0 || len > kMaxRecord) return failed();
  const uint8_t* b = reader_.at(offset, len);
  if (b == nullptr || u32(b + len - 4) != len) return failed();
  end = offset + len;
  if (type == sink::PcapngEncoder::kBlockInterfaceDescription && len >= 20) {
    ChunkInterface itf;
    itf.link_type = static_cast<LinkType>(u16(b + 8));
    for (uint32_t o = 16; o + 4 <= len - 4;) {
      const uint16_t code = u16(b + o);
      const uint16_t olen = u16(b + o + 2);
      if (code == 0 || o + 4 + olen > len - 4) break;
      if (code == kIfName) itf.name.assign(reinterpret_cast<const char*>(b + o + 4), olen);
      o += 4 + ((olen + 3u) & ~3u);
    }
    interfaces_.push_back(std::move(itf));
    return std::optional<ChunkPacket>();
  }
  if (type != sink::PcapngEncoder::kBlockEnhancedPacket) return std::optional<ChunkPacket>();
  if (len < 32) {
    end = 0;
    return failed();
  }
  const uint32_t caplen = u32(b + 20);
  if (caplen > len - 32) {
    end = 0;
    return failed();
  }
  p.interface_id = u32(b + 8);
  p.timestamp_ns = (uint64_t{u32(b + 12)} << 32) | u32(b + 16);
  p.original_length = u32(b + 24);
  p.data = {b + 28, caplen};
  for (uint32_t o = 28 + ((caplen + 3u) & ~3u); o + 4 <= len - 4;) {
    const uint16_t code = u16(b + o);
    const uint16_t olen = u16(b + o + 2);
    if (code == 0 || o + 4 + olen > len - 4) break;
    if (code == kEpbFlags && olen == 4) {
      const uint32_t flags = u32(b + o + 4) & 3u;
      p.direction = flags == 1   ? Direction::kIngress
                    : flags == 2 ? Direction::kEgress
                                 : Direction::kUnknown;
    }
    o += 4 + ((olen + 3u) & ~3u);
  }
  return std::optional<ChunkPacket>(p);
}

}  // namespace recorder::ring
