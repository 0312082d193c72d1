// PcapngEncoder: pcapng with one section, one interface description block (IDB) per capture
// interface, enhanced packet blocks (EPB) and, on close, interface statistics blocks (ISB).
//
// - Section header: shb_userappl "pcap-recorder".
// - Interfaces are keyed by (ifindex, link type): a device captured at L2 and at L3 would be two
//   interfaces. Each IDB carries if_name (if_indextoname(), looked up once per interface, "if<N>"
//   when the device is gone or unknown), the interface's link type, the snap length and
//   if_tsresol = 9 (nanoseconds). The IDB goes into the stream inline, right before the first EPB
//   of its interface, so the producer never has to rewrite earlier bytes.
// - The interface table is fixed-size (kMaxInterfaces entries): no allocation on the hot path.
//   Packets of further interfaces share an "other" interface (one per link type); their EPBs
//   are valid but no longer tell those interfaces apart.
// - EPB: interface id, ns timestamp, epb_flags with the direction (inbound 1, outbound 2); no
//   options at all when the direction is unknown.
// - ISB on close, one per interface written: isb_starttime (sink opened), isb_endtime (sink
//   closed), isb_ifdrop. The recording's drop count is not known per interface, so the whole
//   count goes on the first interface's ISB (interface id 0) and the others carry 0: summing
//   isb_ifdrop over interfaces (as capinfos does) gives the recording's total. A recording with
//   drops but no packets gets one IDB ("if0") so the count still has a place in the file.
//
// Owned by one Sink: encode()/commit() on the producer thread, trailer() on the control thread
// after the producer has stopped.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "dispatch/packet.h"
#include "sink/encoded_record.h"

namespace recorder::sink {

class PcapngEncoder {
 public:
  static constexpr size_t kMaxInterfaces = 64;
  static constexpr size_t kSectionHeaderSize = 52;
  static constexpr size_t kIsbSize = 64;
  static constexpr size_t kEpbHeaderSize = 28;  // an EPB's fields before the packet's bytes
  // Interface slots: kMaxInterfaces, then the two "other" interfaces (Ethernet, raw).
  static constexpr size_t kSlots = kMaxInterfaces + 2;
  static constexpr uint32_t kBlockSectionHeader = 0x0A0D0D0A;
  static constexpr uint32_t kBlockInterfaceDescription = 1;
  static constexpr uint32_t kBlockInterfaceStatistics = 5;
  static constexpr uint32_t kBlockEnhancedPacket = 6;

  explicit PcapngEncoder(uint32_t snap_length) : snap_length_(snap_length) {}

  size_t file_header(std::span<uint8_t> out) const;  // the SHB; out >= kSectionHeaderSize

  // Describes one EPB (preceded by an IDB when the interface is new). After the record is
  // pushed, call commit(out) so the IDB is not emitted again.
  void encode(const CapturedPacket& packet, EncodedRecord& out) noexcept;
  void commit(const EncodedRecord& record) noexcept;

  // The blocks written at close: an IDB if none was written but there are drops, then one ISB
  // per interface. Allocates: control side only.
  std::vector<uint8_t> trailer(uint64_t dropped_packets, uint64_t start_ns, uint64_t end_ns);

  size_t interfaces_written() const { return interface_count_; }

 private:
  struct Interface {
    uint32_t ifindex = 0;
    LinkType link_type = LinkType::kEthernet;
    bool used = false;  // slot taken (its IDB is in the stream)
  };
  int find_slot(const CapturedPacket& packet) const noexcept;
  size_t write_idb(uint8_t* p, size_t slot, uint32_t ifindex, LinkType link_type) const noexcept;

  uint32_t snap_length_;
  std::array<Interface, kSlots> slots_{};
  std::array<uint32_t, kSlots> interface_id_{};  // slot -> interface id in the file
  uint32_t pending_ifindex_ = 0;                 // the interface of the IDB in the last encode()
  LinkType pending_link_type_ = LinkType::kEthernet;
  size_t table_used_ = 0;       // slots [0, table_used_) are in use (excluding "other")
  size_t interface_count_ = 0;  // IDBs in the stream
  int last_slot_ = -1;          // cache: consecutive packets mostly share an interface
};

}  // namespace recorder::sink
