#include "dispatch/filter.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

#include "common/text.h"

namespace recorder {
namespace {

Error invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Parses an unsigned decimal number made only of digits (no sign, no spaces, no hex).
bool parse_decimal(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string_view family_name(AddressFamily family) {
  switch (family) {
    case AddressFamily::kIPv4:
      return "IPv4";
    case AddressFamily::kIPv6:
      return "IPv6";
    case AddressFamily::kAny:
      break;
  }
  return "any";
}

size_t address_bytes(AddressFamily family) { return family == AddressFamily::kIPv4 ? 4 : 16; }

// Clears every bit of `address` below `prefix_length`.
std::array<uint8_t, 16> masked(const std::array<uint8_t, 16>& address, size_t bytes,
                               unsigned prefix_length) {
  std::array<uint8_t, 16> out{};
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned bit = static_cast<unsigned>(i) * 8;
    if (prefix_length >= bit + 8) {
      out[i] = address[i];
    } else if (prefix_length > bit) {
      out[i] = address[i] & static_cast<uint8_t>(0xff00u >> (prefix_length - bit));
    }
  }
  return out;
}

std::string address_text(AddressFamily family, const std::array<uint8_t, 16>& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == AddressFamily::kIPv4 ? AF_INET : AF_INET6, address.data(), buffer,
            sizeof(buffer));
  return buffer;
}

void add_note(std::string* note, std::string sentence) {
  if (note == nullptr) return;
  if (!note->empty()) *note += "; ";
  *note += sentence;
}

// `field` names the CIDR in messages: "CIDR", "source CIDR", "destination CIDR".
Result<Cidr> parse_cidr_field(std::string_view text, std::string_view field, std::string* note) {
  Cidr cidr;
  // Bounded and clean before anything reads it: inet_pton() would stop at a NUL and take
  // "10.0.0.0\0junk/8" for 10.0.0.0.
  if (auto s = check_text(text, field, kMaxCidrText); !s) return std::move(s).error();
  if (text.empty() || iequals(text, "any")) return cidr;

  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  if (address.empty()) {
    return invalid(fmt::format("{} {}: the address is missing", field, excerpt(text)));
  }
  if (inet_pton(AF_INET, address.c_str(), cidr.address.data()) == 1) {
    cidr.family = AddressFamily::kIPv4;
  } else if (inet_pton(AF_INET6, address.c_str(), cidr.address.data()) == 1) {
    cidr.family = AddressFamily::kIPv6;
  } else {
    return invalid(fmt::format("{} {}: {} is not an IPv4 or IPv6 address", field, excerpt(text),
                               excerpt(address)));
  }
  const unsigned max_prefix = cidr.family == AddressFamily::kIPv4 ? 32 : 128;
  uint64_t prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view prefix_text = text.substr(slash + 1);
    if (!parse_decimal(prefix_text, prefix) || prefix > max_prefix) {
      return invalid(fmt::format("{} {}: prefix length {} must be 0..{} for {}", field,
                                 excerpt(text), excerpt(prefix_text), max_prefix,
                                 family_name(cidr.family)));
    }
  }
  cidr.prefix_length = static_cast<uint8_t>(prefix);
  const auto network = masked(cidr.address, address_bytes(cidr.family), cidr.prefix_length);
  if (network != cidr.address) {
    // Hubble parsed with Go's net.ParseCIDR, which returns the masked network, so runbooks
    // hold filters such as "10.95.0.1/24": keep accepting them, and say what is used.
    cidr.address = network;
    add_note(note, fmt::format("{} {}: host bits set below the /{} prefix, using {}", field,
                               excerpt(text), cidr.prefix_length, to_string(cidr)));
  }
  return cidr;
}

Result<uint16_t> check_port(uint64_t value, std::string_view shown, std::string_view field) {
  if (value > 65535) return invalid(fmt::format("{} {}: must be 0..65535", field, shown));
  return static_cast<uint16_t>(value);
}

Result<uint16_t> parse_port(std::string_view text, std::string_view field) {
  uint64_t value = 0;
  if (!parse_decimal(text, value)) {
    return invalid(fmt::format("{} {}: not a decimal number (0 = any port)", field, excerpt(text)));
  }
  return check_port(value, excerpt(text), field);
}

Result<Protocol> protocol_from_number(uint64_t number, std::string_view shown) {
  switch (number) {
    case 0:
      return Protocol::kAny;
    case 1:
      return Protocol::kIcmp;
    case 6:
      return Protocol::kTcp;
    case 17:
      return Protocol::kUdp;
    case 58:
      return Protocol::kIcmpV6;
    case 132:
      return Protocol::kSctp;
    default:
      break;
  }
  return invalid(fmt::format(
      "protocol {}: expected ANY (0), TCP (6), UDP (17), SCTP (132), ICMP (1) or ICMPv6 (58)",
      shown));
}

Result<Filter> assemble(Cidr source, uint16_t source_port, Cidr destination,
                        uint16_t destination_port, Protocol protocol) {
  if (source.family != AddressFamily::kAny && destination.family != AddressFamily::kAny &&
      source.family != destination.family) {
    return invalid(fmt::format("source CIDR is {} but destination CIDR is {}",
                               family_name(source.family), family_name(destination.family)));
  }
  return Filter{source, source_port, destination, destination_port, protocol};
}

bool prefix_contains(const Cidr& cidr, const std::array<uint8_t, 16>& address) {
  const size_t full_bytes = cidr.prefix_length / 8;
  for (size_t i = 0; i < full_bytes; ++i) {
    if (cidr.address[i] != address[i]) return false;
  }
  const unsigned rest = cidr.prefix_length % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return (address[full_bytes] & mask) == cidr.address[full_bytes];
}

bool cidr_matches(const Cidr& cidr, uint8_t ip_version, const std::array<uint8_t, 16>& address) {
  if (cidr.family == AddressFamily::kAny) return true;
  if (static_cast<uint8_t>(cidr.family) != ip_version) return false;
  return prefix_contains(cidr, address);
}

}  // namespace

Result<Cidr> parse_cidr(std::string_view text, std::string* note) {
  return parse_cidr_field(text, "CIDR", note);
}

Result<Protocol> parse_protocol(std::string_view text) {
  static constexpr std::pair<std::string_view, Protocol> kNames[] = {
      {"ANY", Protocol::kAny},   {"TCP", Protocol::kTcp},   {"UDP", Protocol::kUdp},
      {"SCTP", Protocol::kSctp}, {"ICMP", Protocol::kIcmp}, {"ICMPv6", Protocol::kIcmpV6},
  };
  for (const auto& [name, protocol] : kNames) {
    if (iequals(text, name)) return protocol;
  }
  uint64_t number = 0;
  if (parse_decimal(text, number)) return protocol_from_number(number, excerpt(text));
  return invalid(
      fmt::format("protocol {}: expected ANY, TCP, UDP, SCTP, ICMP or ICMPv6", excerpt(text)));
}

Result<Filter> parse_filter(std::string_view text, std::string* note) {
  if (auto s = check_text(text, "filter", kMaxFilterText); !s) return std::move(s).error();
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  if (fields.size() != 5) {
    return invalid(fmt::format(
        "filter {}: expected 5 fields \"SRC_CIDR SRC_PORT DST_CIDR DST_PORT PROTO\", got {}",
        excerpt(text), fields.size()));
  }
  auto source = parse_cidr_field(fields[0], "source CIDR", note);
  if (!source) return source.error();
  auto source_port = parse_port(fields[1], "source port");
  if (!source_port) return source_port.error();
  auto destination = parse_cidr_field(fields[2], "destination CIDR", note);
  if (!destination) return destination.error();
  auto destination_port = parse_port(fields[3], "destination port");
  if (!destination_port) return destination_port.error();
  auto protocol = parse_protocol(fields[4]);
  if (!protocol) return protocol.error();
  return assemble(*source, *source_port, *destination, *destination_port, *protocol);
}

Result<Filter> make_filter(std::string_view source_cidr, uint32_t source_port,
                           std::string_view destination_cidr, uint32_t destination_port,
                           uint32_t protocol, std::string* note) {
  auto source = parse_cidr_field(source_cidr, "source CIDR", note);
  if (!source) return source.error();
  auto src_port = check_port(source_port, std::to_string(source_port), "source port");
  if (!src_port) return src_port.error();
  auto destination = parse_cidr_field(destination_cidr, "destination CIDR", note);
  if (!destination) return destination.error();
  auto dst_port =
      check_port(destination_port, std::to_string(destination_port), "destination port");
  if (!dst_port) return dst_port.error();
  auto proto = protocol_from_number(protocol, std::to_string(protocol));
  if (!proto) return proto.error();
  return assemble(*source, *src_port, *destination, *dst_port, *proto);
}

std::string to_string(const Cidr& cidr) {
  if (cidr.family == AddressFamily::kAny) return "any";
  return fmt::format("{}/{}", address_text(cidr.family, cidr.address), cidr.prefix_length);
}

std::string_view to_string(Protocol protocol) {
  switch (protocol) {
    case Protocol::kAny:
      return "ANY";
    case Protocol::kIcmp:
      return "ICMP";
    case Protocol::kTcp:
      return "TCP";
    case Protocol::kUdp:
      return "UDP";
    case Protocol::kIcmpV6:
      return "ICMPv6";
    case Protocol::kSctp:
      return "SCTP";
  }
  return "ANY";
}

std::string to_string(const Filter& filter) {
  return fmt::format("{} {} {} {} {}", to_string(filter.source), filter.source_port,
                     to_string(filter.destination), filter.destination_port,
                     to_string(filter.protocol));
}

Filter reversed(const Filter& filter) {
  Filter out = filter;
  out.source = filter.destination;
  out.destination = filter.source;
  out.source_port = filter.destination_port;
  out.destination_port = filter.source_port;
  return out;
}

bool matches(const Filter& filter, const PacketInfo& packet) {
  if (!cidr_matches(filter.source, packet.ip_version, packet.source)) return false;
  if (!cidr_matches(filter.destination, packet.ip_version, packet.destination)) return false;
  if (filter.protocol != Protocol::kAny &&
      (!packet.has_protocol || packet.protocol != static_cast<uint8_t>(filter.protocol))) {
    return false;
  }
  if (filter.source_port != 0 && (!packet.has_ports || packet.source_port != filter.source_port)) {
    return false;
  }
  if (filter.destination_port != 0 &&
      (!packet.has_ports || packet.destination_port != filter.destination_port)) {
    return false;
  }
  return true;
}

}  // namespace recorder
