#include "dispatch/filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace recorder {
namespace {

using ::testing::HasSubstr;

Cidr v4(const char* text) {
  auto c = parse_cidr(text);
  EXPECT_TRUE(c.ok()) << text;
  return *c;
}

TEST(ParseCidr, AcceptsCidrsAndBareAddresses) {
  auto c = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->family, AddressFamily::kIPv4);
  EXPECT_EQ(c->prefix_length, 8);
  EXPECT_EQ(c->address[0], 10);

  c = parse_cidr("192.168.1.10");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prefix_length, 32);

  c = parse_cidr("fd00::/64");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->family, AddressFamily::kIPv6);
  EXPECT_EQ(c->prefix_length, 64);
  EXPECT_EQ(c->address[0], 0xfd);

  c = parse_cidr("::1");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prefix_length, 128);
  EXPECT_EQ(c->address[15], 1);

  c = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->family, AddressFamily::kIPv4);
  EXPECT_EQ(c->prefix_length, 0);
}

TEST(ParseCidr, EmptyAndAnyMeanEveryAddress) {
  for (const char* text : {"", "any", "ANY"}) {
    auto c = parse_cidr(text);
    ASSERT_TRUE(c.ok()) << text;
    EXPECT_EQ(*c, Cidr{}) << text;
  }
}

void expect_error(const Result<Cidr>& r, const std::string& part) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr(part));
}

TEST(ParseCidr, ClearsHostBitsLikeGoNetParseCidrAndSaysSo) {
  // Hubble's recorder took "10.95.0.1/24" as 10.95.0.0/24 (Go's net.ParseCIDR).
  std::string note;
  auto c = parse_cidr("10.95.0.1/24", &note);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(*c, *parse_cidr("10.95.0.0/24"));
  EXPECT_EQ(to_string(*c), "10.95.0.0/24");
  EXPECT_EQ(note, "CIDR \"10.95.0.1/24\": host bits set below the /24 prefix, using 10.95.0.0/24");

  note.clear();
  c = parse_cidr("fd00::1:2/64", &note);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(to_string(*c), "fd00::/64");
  EXPECT_THAT(note, HasSubstr("using fd00::/64"));

  note.clear();
  c = parse_cidr("10.0.0.0/8", &note);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(note, "");  // nothing to say
  EXPECT_EQ(to_string(*parse_cidr("10.1.2.3/0")), "0.0.0.0/0");
  EXPECT_TRUE(parse_cidr("10.1.2.3/8").ok());  // no note wanted: still accepted
}

TEST(ParseCidr, RefusesNulBytesAndOversizedText) {
  using namespace std::string_literals;
  // inet_pton() stops at the NUL: this once became 10.0.0.0/8.
  expect_error(parse_cidr("10.0.0.0\0junk/8"s), "contains a NUL byte");
  expect_error(parse_cidr("10.0.0.0/8\0"s), "contains a NUL byte");
  const std::string big = "10.0.0.0/8" + std::string(1 << 20, ' ');
  auto r = parse_cidr(big);
  expect_error(r, "longer than the limit of 64 bytes");
  EXPECT_LT(r.error().message().size(), 200u);  // an excerpt, not the megabyte
  expect_error(parse_cidr("\xff\xfe/8"), "not valid UTF-8");
  expect_error(parse_cidr("10.0.0.0\n/8"), "\"10.0.0.0\\n\" is not an IPv4");  // escaped
}

TEST(ParseCidr, RejectsBadInput) {
  expect_error(parse_cidr("10.0.0.0/33"), "prefix length \"33\" must be 0..32 for IPv4");
  expect_error(parse_cidr("fd00::/129"), "prefix length \"129\" must be 0..128 for IPv6");
  expect_error(parse_cidr("10.0.0.0/"), "prefix length \"\" must be");
  expect_error(parse_cidr("10.0.0.0/x"), "prefix length \"x\"");
  expect_error(parse_cidr("10.0.0.0/-1"), "prefix length \"-1\"");
  expect_error(parse_cidr("300.0.0.1"), "\"300.0.0.1\" is not an IPv4 or IPv6 address");
  expect_error(parse_cidr("hello/8"), "is not an IPv4 or IPv6 address");
  expect_error(parse_cidr("/8"), "the address is missing");
}

TEST(ParseProtocol, NamesAndNumbers) {
  EXPECT_EQ(*parse_protocol("tcp"), Protocol::kTcp);
  EXPECT_EQ(*parse_protocol("UDP"), Protocol::kUdp);
  EXPECT_EQ(*parse_protocol("Sctp"), Protocol::kSctp);
  EXPECT_EQ(*parse_protocol("icmp"), Protocol::kIcmp);
  EXPECT_EQ(*parse_protocol("ICMPV6"), Protocol::kIcmpV6);
  EXPECT_EQ(*parse_protocol("any"), Protocol::kAny);
  EXPECT_EQ(*parse_protocol("6"), Protocol::kTcp);
  EXPECT_EQ(*parse_protocol("132"), Protocol::kSctp);
  EXPECT_EQ(*parse_protocol("58"), Protocol::kIcmpV6);
  EXPECT_EQ(*parse_protocol("0"), Protocol::kAny);

  auto bad = parse_protocol("FOO");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(),
            "protocol \"FOO\": expected ANY, TCP, UDP, SCTP, ICMP or ICMPv6");
  bad = parse_protocol("47");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("protocol \"47\": expected ANY (0), TCP (6)"));
}

TEST(ParseFilter, HubbleTextForm) {
  auto f = parse_filter("10.0.0.0/8 0 192.168.1.10 443 TCP");
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->source, v4("10.0.0.0/8"));
  EXPECT_EQ(f->source_port, 0);
  EXPECT_EQ(f->destination, v4("192.168.1.10/32"));
  EXPECT_EQ(f->destination_port, 443);
  EXPECT_EQ(f->protocol, Protocol::kTcp);

  f = parse_filter("  any\t0  fd00::/8 53 udp ");
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->source.family, AddressFamily::kAny);
  EXPECT_EQ(f->destination.family, AddressFamily::kIPv6);
  EXPECT_EQ(f->protocol, Protocol::kUdp);

  f = parse_filter("0.0.0.0/0 0 0.0.0.0/0 0 ANY");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->source.family, AddressFamily::kIPv4);
}

void expect_filter_error(std::string_view text, const std::string& part) {
  auto r = parse_filter(text);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr(part)) << text;
}

TEST(ParseFilter, ErrorsNameTheFieldAndWhy) {
  expect_filter_error("10.0.0.0/8 0 10.0.0.1 70000 TCP",
                      "destination port \"70000\": must be 0..65535");
  expect_filter_error("10.0.0.0/8 99999 10.0.0.1 0 TCP", "source port \"99999\": must be 0..65535");
  expect_filter_error("10.0.0.0/8 http 10.0.0.1 0 TCP",
                      "source port \"http\": not a decimal number");
  expect_filter_error("10.0.0.0/8 0 10.0.0.1 -1 TCP", "destination port \"-1\": not a decimal");
  expect_filter_error("10.0.0.0/8 0 fd00::/8 0 TCP",
                      "source CIDR is IPv4 but destination CIDR is IPv6");
  expect_filter_error("fd00::1 0 10.0.0.1 0 TCP",
                      "source CIDR is IPv6 but destination CIDR is IPv4");
  expect_filter_error("10.0.0.0/8 0 10.0.0.1 0 FOO",
                      "protocol \"FOO\": expected ANY, TCP, UDP, SCTP, ICMP or ICMPv6");
  expect_filter_error("10.0.0.0/8 0 10.0.0.1 0", "expected 5 fields");
  expect_filter_error("10.0.0.0/8 0 10.0.0.1 0 TCP extra", "got 6");
  expect_filter_error("", "got 0");
  expect_filter_error(std::string(1 << 20, 'x'), "filter \"xxxx");
  expect_filter_error(std::string(1 << 20, 'x'), "longer than the limit of 256 bytes");
  expect_filter_error(std::string("any 0 any 0 TCP\0", 16), "contains a NUL byte");
}

TEST(ParseFilter, MasksHostBitsAsHubbleDidAndNotesBoth) {
  std::string note;
  auto f = parse_filter("10.95.0.1/24 0 10.95.0.2/32 9000 UDP", &note);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(to_string(*f), "10.95.0.0/24 0 10.95.0.2/32 9000 UDP");
  EXPECT_EQ(note,
            "source CIDR \"10.95.0.1/24\": host bits set below the /24 prefix, using "
            "10.95.0.0/24");
  note.clear();
  f = parse_filter("10.0.0.1/8 0 10.1.1.1/16 0 TCP", &note);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(note,
            "source CIDR \"10.0.0.1/8\": host bits set below the /8 prefix, using "
            "10.0.0.0/8; destination CIDR \"10.1.1.1/16\": host bits set below the /16 "
            "prefix, using 10.1.0.0/16");
  note.clear();
  auto m = make_filter("10.95.0.1/24", 0, "", 0, 17, &note);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(to_string(m->source), "10.95.0.0/24");
  EXPECT_THAT(note, HasSubstr("using 10.95.0.0/24"));
}

TEST(MakeFilter, ValidatesLikeTheTextForm) {
  auto f = make_filter("10.0.0.0/8", 0, "", 443, 6);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->destination.family, AddressFamily::kAny);
  EXPECT_EQ(f->destination_port, 443);
  EXPECT_EQ(f->protocol, Protocol::kTcp);

  auto bad = make_filter("", 70000, "", 0, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "source port 70000: must be 0..65535");
  bad = make_filter("", 0, "", 65536, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "destination port 65536: must be 0..65535");
  bad = make_filter("", 0, "", 0, 99);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("protocol 99: expected"));
  bad = make_filter("fd00::/16", 0, "10.0.0.0/8", 0, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "source CIDR is IPv6 but destination CIDR is IPv4");
  bad = make_filter("1.2.3.4/40", 0, "", 0, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("source CIDR \"1.2.3.4/40\""));
  bad = make_filter("", 0, "nonsense", 0, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("destination CIDR \"nonsense\""));
}

TEST(FilterText, RoundTrips) {
  for (const char* text : {"10.0.0.0/8 0 192.168.1.10 443 TCP", "any 0 any 0 ANY",
                           "fd00::/64 53 any 0 UDP", "any 0 2001:db8::1 0 ICMPv6",
                           "1.2.3.4 1 5.6.7.0/24 2 SCTP", "0.0.0.0/0 0 0.0.0.0/0 0 ICMP"}) {
    auto f = parse_filter(text);
    ASSERT_TRUE(f.ok()) << text;
    const std::string again = to_string(*f);
    auto g = parse_filter(again);
    ASSERT_TRUE(g.ok()) << again;
    EXPECT_EQ(*f, *g) << text << " -> " << again;
  }
  EXPECT_EQ(to_string(*parse_filter("10.0.0.0/8 0 192.168.1.10 443 tcp")),
            "10.0.0.0/8 0 192.168.1.10/32 443 TCP");
  EXPECT_EQ(to_string(Filter{}), "any 0 any 0 ANY");
}

TEST(Reversed, SwapsSourceAndDestination) {
  auto f = *parse_filter("10.0.0.0/8 1234 192.168.1.10 443 TCP");
  auto r = reversed(f);
  EXPECT_EQ(r.source, f.destination);
  EXPECT_EQ(r.destination, f.source);
  EXPECT_EQ(r.source_port, 443);
  EXPECT_EQ(r.destination_port, 1234);
  EXPECT_EQ(r.protocol, Protocol::kTcp);
  EXPECT_EQ(reversed(r), f);
}

PacketInfo tcp4(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  PacketInfo p;
  p.ip_version = 4;
  std::copy_n(v4(src).address.begin(), 4, p.source.begin());
  std::copy_n(v4(dst).address.begin(), 4, p.destination.begin());
  p.has_protocol = true;
  p.protocol = 6;
  p.has_ports = true;
  p.source_port = sport;
  p.destination_port = dport;
  return p;
}

TEST(Matches, EveryField) {
  const PacketInfo p = tcp4("10.1.2.3", 40000, "192.168.1.10", 443);
  EXPECT_TRUE(matches(*parse_filter("10.0.0.0/8 0 192.168.1.10 443 TCP"), p));
  EXPECT_TRUE(matches(*parse_filter("any 0 any 0 ANY"), p));
  EXPECT_TRUE(matches(*parse_filter("0.0.0.0/0 0 any 0 ANY"), p));
  EXPECT_FALSE(matches(*parse_filter("11.0.0.0/8 0 any 0 ANY"), p));
  EXPECT_FALSE(matches(*parse_filter("any 0 192.168.1.11 0 ANY"), p));
  EXPECT_FALSE(matches(*parse_filter("any 1 any 0 ANY"), p));
  EXPECT_TRUE(matches(*parse_filter("any 40000 any 0 ANY"), p));
  EXPECT_FALSE(matches(*parse_filter("any 0 any 80 ANY"), p));
  EXPECT_FALSE(matches(*parse_filter("any 0 any 0 UDP"), p));
  EXPECT_FALSE(matches(*parse_filter("::/0 0 any 0 ANY"), p));  // family restricts

  PacketInfo icmp = p;
  icmp.protocol = 1;
  icmp.has_ports = false;
  EXPECT_TRUE(matches(*parse_filter("any 0 any 0 ICMP"), icmp));
  EXPECT_TRUE(matches(*parse_filter("10.0.0.0/8 0 any 0 ANY"), icmp));
  EXPECT_FALSE(matches(*parse_filter("any 0 any 443 ANY"), icmp));  // no ports: only port 0

  PacketInfo not_ip;
  EXPECT_TRUE(matches(*parse_filter("any 0 any 0 ANY"), not_ip));
  EXPECT_FALSE(matches(*parse_filter("0.0.0.0/0 0 any 0 ANY"), not_ip));
  EXPECT_FALSE(matches(*parse_filter("any 0 any 0 TCP"), not_ip));
}

TEST(Matches, PrefixBoundaries) {
  const PacketInfo p = tcp4("10.1.2.3", 1, "10.255.0.1", 2);
  EXPECT_TRUE(matches(*parse_filter("10.1.2.2/31 0 any 0 ANY"), p));
  EXPECT_FALSE(matches(*parse_filter("10.1.2.4/31 0 any 0 ANY"), p));
  EXPECT_TRUE(matches(*parse_filter("10.1.0.0/22 0 10.254.0.0/15 0 ANY"), p));
  EXPECT_FALSE(matches(*parse_filter("10.1.4.0/22 0 any 0 ANY"), p));
}

}  // namespace
}  // namespace recorder
