#include "sink/pcap_encoder.h"

namespace recorder::sink {

size_t PcapEncoder::file_header(std::span<uint8_t> out) const {
  uint8_t* p = out.data();
  put_u32(p + 0, kMagicNanoseconds);
  put_u16(p + 4, 2);  // version 2.4
  put_u16(p + 6, 4);
  put_u32(p + 8, 0);   // thiszone: timestamps are UTC
  put_u32(p + 12, 0);  // sigfigs
  put_u32(p + 16, snap_length_);
  put_u32(p + 20, static_cast<uint32_t>(LinkType::kEthernet));
  return kFileHeaderSize;
}

void PcapEncoder::encode(const CapturedPacket& packet, EncodedRecord& out) const noexcept {
  const bool synthesize = packet.link_type == LinkType::kRaw;
  const uint32_t extra = synthesize ? kSynthesizedEthernetSize : 0;
  const auto cap_len = static_cast<uint32_t>(packet.data.size());
  uint8_t* p = out.prefix;
  record_header(packet, cap_len, extra, p);
  out.prefix_len = kRecordHeaderSize;
  if (synthesize) {
    std::memset(p + 16, 0, 12);  // zero destination and source MAC
    const bool v6 = !packet.data.empty() && (packet.data[0] >> 4) == 6;
    p[28] = v6 ? 0x86 : 0x08;  // ethertype, network byte order
    p[29] = v6 ? 0xDD : 0x00;
    out.prefix_len += kSynthesizedEthernetSize;
  }
  out.data = packet.data;
  out.suffix_len = 0;
  out.new_interface_slot = -1;
}

}  // namespace recorder::sink
