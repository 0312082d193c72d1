// libFuzzer target: decode_packet() on arbitrary bytes. The first byte picks the link type
// (even: Ethernet, odd: raw IP); the rest is the packet, copied into an exactly sized buffer so
// any read past its end is an ASan error. Also checks the decoder's own invariants.
#include <cstdlib>
#include <vector>

#include "dispatch/packet_info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const recorder::LinkType link =
      (data[0] & 1) ? recorder::LinkType::kRaw : recorder::LinkType::kEthernet;
  const std::vector<uint8_t> packet(data + 1, data + size);
  const recorder::PacketInfo info = recorder::decode_packet(packet, link);
  if (info.ip_version != 0 && info.ip_version != 4 && info.ip_version != 6) std::abort();
  if (info.has_protocol && info.ip_version == 0) std::abort();
  if (info.has_ports && !info.has_protocol) std::abort();
  if (info.has_ports && info.protocol != 6 && info.protocol != 17 && info.protocol != 132) {
    std::abort();
  }
  if (!info.has_ports && (info.source_port != 0 || info.destination_port != 0)) std::abort();
  return 0;
}
