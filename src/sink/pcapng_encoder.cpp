#include "sink/pcapng_encoder.h"

#include <net/if.h>

#include <cstdio>
#include <cstring>

namespace recorder::sink {
namespace {

constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kShbUserAppl = 4;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kIfTsResol = 9;
constexpr uint16_t kEpbFlags = 2;
constexpr uint16_t kIsbStartTime = 2;
constexpr uint16_t kIsbEndTime = 3;
constexpr uint16_t kIsbIfDrop = 5;
constexpr char kUserAppl[] = "pcap-recorder";

constexpr size_t pad4(size_t n) { return (n + 3) & ~size_t{3}; }

// Writes an option header and value, zero-padded to 4 bytes; returns the bytes written.
size_t put_option(uint8_t* p, uint16_t code, const void* value, uint16_t length) {
  put_u16(p, code);
  put_u16(p + 2, length);
  std::memcpy(p + 4, value, length);
  const size_t padded = pad4(length);
  std::memset(p + 4 + length, 0, padded - length);
  return 4 + padded;
}

// pcapng timestamps are split into high and low 32-bit words.
void put_timestamp(uint8_t* p, uint64_t ts) {
  put_u32(p, static_cast<uint32_t>(ts >> 32));
  put_u32(p + 4, static_cast<uint32_t>(ts));
}

}  // namespace

size_t PcapngEncoder::file_header(std::span<uint8_t> out) const {
  uint8_t* p = out.data();
  put_u32(p + 0, kBlockSectionHeader);
  put_u32(p + 4, kSectionHeaderSize);
  put_u32(p + 8, 0x1A2B3C4D);  // byte-order magic
  put_u16(p + 12, 1);          // version 1.0
  put_u16(p + 14, 0);
  put_u64(p + 16, ~uint64_t{0});  // section length unknown (-1): we write as we go
  size_t n = 24;
  n += put_option(p + n, kShbUserAppl, kUserAppl, sizeof(kUserAppl) - 1);
  put_u32(p + n, 0);  // opt_endofopt
  n += 4;
  put_u32(p + n, kSectionHeaderSize);
  n += 4;
  return n;
}

int PcapngEncoder::find_slot(const CapturedPacket& packet) const noexcept {
  if (last_slot_ >= 0) {
    const Interface& e = slots_[last_slot_];
    if (e.ifindex == packet.ifindex && e.link_type == packet.link_type) return last_slot_;
  }
  for (size_t i = 0; i < table_used_; ++i) {
    if (slots_[i].ifindex == packet.ifindex && slots_[i].link_type == packet.link_type) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

size_t PcapngEncoder::write_idb(uint8_t* p, size_t slot, uint32_t ifindex,
                                LinkType link_type) const noexcept {
  char name[IF_NAMESIZE + 8];
  size_t name_len;
  if (slot >= kMaxInterfaces) {
    name_len = static_cast<size_t>(std::snprintf(name, sizeof name, "other"));
  } else if (ifindex != 0 && if_indextoname(ifindex, name) != nullptr) {
    // Once per interface and sink: the device's name now (it may be renamed or gone later).
    name_len = std::strlen(name);
  } else {
    name_len = static_cast<size_t>(std::snprintf(name, sizeof name, "if%u", ifindex));
  }
  put_u32(p + 0, kBlockInterfaceDescription);
  put_u16(p + 8, static_cast<uint16_t>(link_type));
  put_u16(p + 10, 0);
  put_u32(p + 12, snap_length_);
  size_t n = 16;
  n += put_option(p + n, kIfName, name, static_cast<uint16_t>(name_len));
  const uint8_t tsresol = 9;  // 10^-9 s
  n += put_option(p + n, kIfTsResol, &tsresol, 1);
  put_u32(p + n, 0);
  n += 4;
  n += 4;
  put_u32(p + 4, static_cast<uint32_t>(n));
  put_u32(p + n - 4, static_cast<uint32_t>(n));
  return n;
}

void PcapngEncoder::encode(const CapturedPacket& packet, EncodedRecord& out) noexcept {
  int slot = find_slot(packet);
  size_t n = 0;
  out.new_interface_slot = -1;
  if (slot < 0) {
    if (table_used_ < kMaxInterfaces) {
      slot = static_cast<int>(table_used_);
    } else {
      slot = static_cast<int>(kMaxInterfaces + (packet.link_type == LinkType::kRaw ? 1 : 0));
    }
    if (!slots_[slot].used) {
      n = write_idb(out.prefix, static_cast<size_t>(slot), packet.ifindex, packet.link_type);
      out.new_interface_slot = slot;
      pending_ifindex_ = packet.ifindex;
      pending_link_type_ = packet.link_type;
    }
  }
  const uint32_t interface_id = out.new_interface_slot >= 0
                                    ? static_cast<uint32_t>(interface_count_)
                                    : interface_id_[static_cast<size_t>(slot)];
  if (out.new_interface_slot < 0) last_slot_ = slot;

  const auto cap_len = static_cast<uint32_t>(packet.data.size());
  const uint32_t orig_len = packet.original_length < cap_len ? cap_len : packet.original_length;
  const size_t padded = pad4(cap_len);
  const bool has_flags = packet.direction != Direction::kUnknown;
  const size_t options = has_flags ? 12 : 0;
  const auto total = static_cast<uint32_t>(kEpbHeaderSize + padded + options + 4);

  uint8_t* p = out.prefix + n;
  put_u32(p + 0, kBlockEnhancedPacket);
  put_u32(p + 4, total);
  put_u32(p + 8, interface_id);
  put_timestamp(p + 12, packet.timestamp_ns);
  put_u32(p + 20, cap_len);
  put_u32(p + 24, orig_len);
  out.prefix_len = static_cast<uint32_t>(n + kEpbHeaderSize);
  out.data = packet.data;

  uint8_t* s = out.suffix;
  size_t m = padded - cap_len;
  std::memset(s, 0, m);
  if (has_flags) {
    const uint32_t flags = packet.direction == Direction::kIngress ? 1u : 2u;
    m += put_option(s + m, kEpbFlags, &flags, 4);
    put_u32(s + m, 0);
    m += 4;
  }
  put_u32(s + m, total);
  out.suffix_len = static_cast<uint32_t>(m + 4);
}

void PcapngEncoder::commit(const EncodedRecord& record) noexcept {
  if (record.new_interface_slot < 0) return;
  const auto slot = static_cast<size_t>(record.new_interface_slot);
  slots_[slot] = Interface{pending_ifindex_, pending_link_type_, true};
  interface_id_[slot] = static_cast<uint32_t>(interface_count_);
  ++interface_count_;
  if (slot < kMaxInterfaces) table_used_ = slot + 1;
  last_slot_ = static_cast<int>(slot);
}

std::vector<uint8_t> PcapngEncoder::trailer(uint64_t dropped_packets, uint64_t start_ns,
                                            uint64_t end_ns) {
  std::vector<uint8_t> out;
  if (interface_count_ == 0 && dropped_packets > 0) {
    uint8_t idb[EncodedRecord::kMaxPrefix];
    const size_t n = write_idb(idb, 0, 0, LinkType::kEthernet);
    out.insert(out.end(), idb, idb + n);
    slots_[0].used = true;
    interface_count_ = 1;
  }
  for (size_t id = 0; id < interface_count_; ++id) {
    uint8_t b[kIsbSize];
    put_u32(b + 0, kBlockInterfaceStatistics);
    put_u32(b + 4, kIsbSize);
    put_u32(b + 8, static_cast<uint32_t>(id));
    put_timestamp(b + 12, end_ns);
    size_t n = 20;
    uint8_t ts[8];
    put_timestamp(ts, start_ns);
    n += put_option(b + n, kIsbStartTime, ts, 8);
    put_timestamp(ts, end_ns);
    n += put_option(b + n, kIsbEndTime, ts, 8);
    const uint64_t drops = id == 0 ? dropped_packets : 0;
    n += put_option(b + n, kIsbIfDrop, &drops, 8);
    put_u32(b + n, 0);
    n += 4;
    put_u32(b + n, kIsbSize);
    out.insert(out.end(), b, b + kIsbSize);
  }
  return out;
}

}  // namespace recorder::sink
