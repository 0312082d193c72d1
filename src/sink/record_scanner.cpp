#include "sink/record_scanner.h"

#include <unistd.h>

#include <cerrno>
#include <vector>

#include "sink/encoded_record.h"
#include "sink/pcap_encoder.h"
#include "sink/pcapng_encoder.h"
#include "sink/window_reader.h"

namespace recorder::sink {
namespace {

bool looks_synthesized(const uint8_t* frame) {
  for (int i = 0; i < 12; ++i) {
    if (frame[i] != 0) return false;
  }
  const unsigned version = frame[14] >> 4;
  return (frame[12] == 0x08 && frame[13] == 0x00 && version == 4) ||
         (frame[12] == 0x86 && frame[13] == 0xDD && version == 6);
}

// Upper bound for one record: far above any snap length we write, small enough to reject junk.
constexpr uint32_t kMaxRecord = 16u << 20;

}  // namespace

Result<ScanResult> scan_records(int fd, uint64_t limit, const ScanResult* resume) {
  WindowReader reader(fd, limit);
  ScanResult r;
  if (resume != nullptr && resume->valid_end > 0) {
    r = *resume;
  } else {
    const uint8_t* head = reader.at(0, 12);
    if (head == nullptr) {
      if (reader.error() != 0) return Error::from_errno("read file header", reader.error());
      return Error(ErrorCode::kInvalidArgument, "file is shorter than a pcap/pcapng header");
    }
    const uint32_t magic = get_u32(head);
    if (magic == PcapEncoder::kMagicNanoseconds || magic == 0xa1b2c3d4) {
      r.format = FileFormat::kPcap;
      if (reader.at(0, PcapEncoder::kFileHeaderSize) == nullptr) {
        return Error(ErrorCode::kInvalidArgument, "file is shorter than a pcap header");
      }
      r.valid_end = PcapEncoder::kFileHeaderSize;
    } else if (magic == PcapngEncoder::kBlockSectionHeader && get_u32(head + 8) == 0x1A2B3C4D) {
      r.format = FileFormat::kPcapng;
    } else {
      return Error(ErrorCode::kInvalidArgument, "not a pcap or pcapng file (unknown magic)");
    }
  }
  if (r.format == FileFormat::kPcap) {
    uint64_t off = r.valid_end;
    for (;;) {
      const uint8_t* h = reader.at(off, PcapEncoder::kRecordHeaderSize);
      if (h == nullptr) break;
      const uint32_t incl = get_u32(h + 8);
      const uint32_t orig = get_u32(h + 12);
      // We never write an empty record: zeros are a hole (a later write of a file being
      // written that completed before an earlier one), not a record.
      if (incl == 0 || incl > kMaxRecord || orig < incl || get_u32(h + 4) >= 1000000000u) break;
      const uint64_t end = off + PcapEncoder::kRecordHeaderSize + incl;
      if (end > limit) break;
      if (incl >= 15) {
        const uint8_t* frame = reader.at(off + PcapEncoder::kRecordHeaderSize, 15);
        if (frame == nullptr) break;
        if (looks_synthesized(frame)) ++r.synthesized_records;
      }
      ++r.packets;
      r.record_bytes += incl;
      off = end;
      r.valid_end = off;
    }
  } else {
    uint64_t off = r.valid_end;
    for (;;) {
      const uint8_t* h = reader.at(off, 8);
      if (h == nullptr) break;
      const uint32_t type = get_u32(h);
      const uint32_t len = get_u32(h + 4);
      if (len < 12 || len % 4 != 0 || len > kMaxRecord) break;
      if (off == 0 && type != PcapngEncoder::kBlockSectionHeader) break;
      const uint64_t end = off + len;
      if (end > limit) break;
      const uint8_t* t = reader.at(end - 4, 4);
      if (t == nullptr || get_u32(t) != len) break;
      if (type == PcapngEncoder::kBlockEnhancedPacket) {
        if (len < 32) break;
        const uint8_t* e = reader.at(off + 20, 4);
        if (e == nullptr) break;
        const uint32_t cap = get_u32(e);
        if (cap > len - 32) break;
        ++r.packets;
        r.record_bytes += cap;
      }
      off = end;
      r.valid_end = off;
    }
    if (r.valid_end == 0) {
      return Error(ErrorCode::kInvalidArgument, "pcapng section header block is incomplete");
    }
  }
  if (reader.error() != 0) return Error::from_errno("read records", reader.error());
  return r;
}

}  // namespace recorder::sink
