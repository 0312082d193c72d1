// libFuzzer target: the classifier against matches(). The input is a rule table and a packet:
// byte 0 = number of rules (1..32), then 12 bytes per rule, then the packet (decoded as
// Ethernet). Rule addresses are drawn from the packet's own addresses so matches are common.
// Any disagreement between Classifier::classify() and matches() aborts.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dispatch/classifier.h"
#include "dispatch/rule_mask.h"

namespace {

recorder::Cidr make_cidr(uint8_t family_byte, uint8_t prefix_byte, uint8_t flip,
                         const recorder::PacketInfo& packet, bool source) {
  recorder::Cidr c;
  switch (family_byte % 3) {
    case 0:
      return c;
    case 1:
      c.family = recorder::AddressFamily::kIPv4;
      break;
    default:
      c.family = recorder::AddressFamily::kIPv6;
      break;
  }
  const unsigned max = c.family == recorder::AddressFamily::kIPv4 ? 32 : 128;
  c.prefix_length = static_cast<uint8_t>(prefix_byte % (max + 1));
  std::array<uint8_t, 16> a = source ? packet.source : packet.destination;
  a[flip % (max / 8)] ^= static_cast<uint8_t>(flip >> 4);  // sometimes differ, sometimes not
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bit = i * 8;
    if (c.family == recorder::AddressFamily::kIPv4 && i >= 4) {
      c.address[i] = 0;
    } else if (c.prefix_length >= bit + 8) {
      c.address[i] = a[i];
    } else if (c.prefix_length > bit) {
      c.address[i] = a[i] & static_cast<uint8_t>(0xff00u >> (c.prefix_length - bit));
    } else {
      c.address[i] = 0;
    }
  }
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kRuleBytes = 12;
  if (size < 1) return 0;
  const size_t count = 1 + data[0] % 32;
  if (size < 1 + count * kRuleBytes) return 0;
  const uint8_t* rule_bytes = data + 1;
  const std::vector<uint8_t> packet(data + 1 + count * kRuleBytes, data + size);
  const recorder::PacketInfo info = recorder::decode_packet(packet, recorder::LinkType::kEthernet);

  static constexpr recorder::Protocol kProtocols[] = {
      recorder::Protocol::kAny,  recorder::Protocol::kTcp,  recorder::Protocol::kUdp,
      recorder::Protocol::kSctp, recorder::Protocol::kIcmp, recorder::Protocol::kIcmpV6};
  std::vector<recorder::ClassifierRule> rules;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* b = rule_bytes + i * kRuleBytes;
    recorder::Filter f;
    f.source = make_cidr(b[0], b[1], b[2], info, true);
    f.destination = make_cidr(b[0], b[3], b[4], info, false);
    if (b[0] & 0x80) f.source = {};  // one side any
    f.protocol = kProtocols[b[5] % 6];
    f.source_port = (b[6] & 1) ? static_cast<uint16_t>(b[7] << 8 | b[8]) : 0;
    f.destination_port = (b[6] & 2) ? static_cast<uint16_t>(b[9] << 8 | b[10]) : 0;
    if ((b[6] & 4) && info.has_ports) f.destination_port = info.destination_port;
    if ((b[6] & 8) && info.has_ports) f.source_port = info.source_port;
    rules.push_back({static_cast<uint16_t>((b[11] + i * 7) % RECORDER_MAX_RULES), f});
  }
  // Slots must be distinct.
  std::vector<bool> used(RECORDER_MAX_RULES);
  for (auto& r : rules) {
    while (used[r.slot]) r.slot = static_cast<uint16_t>((r.slot + 1) % RECORDER_MAX_RULES);
    used[r.slot] = true;
  }
  const recorder::Classifier classifier(rules);
  const recorder::RuleMask got = classifier.classify(info);
  recorder::RuleMask expected{};
  for (const auto& r : rules) {
    if (recorder::matches(r.filter, info)) recorder::set_rule(expected, r.slot);
  }
  if (!recorder::same_rules(got, expected)) std::abort();
  return 0;
}
