// Filter: Hubble's 5-tuple include filter, and the single definition of what it matches.
//
// A filter matches a packet when every set field matches: source CIDR, source port (0 = any),
// destination CIDR, destination port (0 = any), protocol (kAny = every protocol, ICMP and
// non-port protocols included). An empty CIDR means any address; a set CIDR restricts the
// packet's family to the CIDR's family. Both CIDRs of one filter must be of the same family.
// Packets whose ports are unknown (ICMP, non-first fragments, truncated L4) match only filters
// whose ports are 0. The kernel rule table and the user-space classifier are both tested for
// agreement with matches() below.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "dispatch/packet_info.h"

namespace recorder {

enum class Protocol : uint8_t {
  kAny = 0,
  kIcmp = 1,
  kTcp = 6,
  kUdp = 17,
  kIcmpV6 = 58,
  kSctp = 132,
};

enum class AddressFamily : uint8_t { kAny = 0, kIPv4 = 4, kIPv6 = 6 };

struct Cidr {
  AddressFamily family = AddressFamily::kAny;  // kAny: matches every address of every family
  std::array<uint8_t, 16> address{};           // network byte order; IPv4 in [0..3]; host bits 0
  uint8_t prefix_length = 0;

  bool operator==(const Cidr&) const = default;
};

struct Filter {
  Cidr source;
  uint16_t source_port = 0;  // 0 = any
  Cidr destination;
  uint16_t destination_port = 0;  // 0 = any
  Protocol protocol = Protocol::kAny;

  bool operator==(const Filter&) const = default;
};

// The longest CIDR text accepted (an IPv6 address in its longest form with a prefix is 49
// characters); longer text is refused before anything parses it.
inline constexpr size_t kMaxCidrText = 64;
// The longest filter text accepted ("SRC_CIDR SRC_PORT DST_CIDR DST_PORT PROTO", spaces included).
inline constexpr size_t kMaxFilterText = 256;

// Parses a CIDR ("10.0.0.0/8", "fd00::/64") or a bare address (meaning /32 or /128). An empty
// string or "any" gives the any-address Cidr. Text longer than kMaxCidrText, with a NUL byte or
// not valid UTF-8 is refused. Host bits set below the prefix are cleared, as Go's net.ParseCIDR
// (and so Hubble's recorder) did: "10.95.0.1/24" is 10.95.0.0/24; when that happens and `note`
// is given, a sentence saying so is appended to it (for the caller to log or print).
Result<Cidr> parse_cidr(std::string_view text, std::string* note = nullptr);

// Parses a protocol name or number: "ANY", "TCP", "UDP", "SCTP", "ICMP", "ICMPv6" (any case),
// or a decimal number of one of those.
Result<Protocol> parse_protocol(std::string_view text);

// Parses Hubble's text form "SRC_CIDR SRC_PORT DST_CIDR DST_PORT PROTO", e.g.
// "10.0.0.0/8 0 192.168.1.10 443 TCP" (at most kMaxFilterText bytes). Errors name the bad field
// and say why; `note` as for parse_cidr.
Result<Filter> parse_filter(std::string_view text, std::string* note = nullptr);

// Builds a filter from the fields of Hubble's proto Filter message, with the same validation
// (port > 65535, unknown protocol, family mismatch). Errors name the field; `note` as for
// parse_cidr.
Result<Filter> make_filter(std::string_view source_cidr, uint32_t source_port,
                           std::string_view destination_cidr, uint32_t destination_port,
                           uint32_t protocol, std::string* note = nullptr);

// Hubble's text form; parse_filter(to_string(f)) == f.
std::string to_string(const Filter& filter);
std::string to_string(const Cidr& cidr);
std::string_view to_string(Protocol protocol);

// The same filter with source and destination swapped (recorderctl --bidirectional).
Filter reversed(const Filter& filter);

// The definition of a match.
bool matches(const Filter& filter, const PacketInfo& packet);

}  // namespace recorder
