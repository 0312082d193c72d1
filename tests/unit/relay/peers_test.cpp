// The relay's peer list: --peers entries checked with the entry named, --peers-dns resolution,
// and a PeerSet that refuses bad options before it starts.
#include <gtest/gtest.h>

#include "relay/peers.h"

namespace recorder::relay {
namespace {

TEST(Peers, AddressesAreCheckedAndTheBadOneIsNamed) {
  EXPECT_TRUE(validate_peer_address("unix:///run/pcap-recorder/recorder.sock"));
  EXPECT_TRUE(validate_peer_address("node-a.example:4245"));
  EXPECT_TRUE(validate_peer_address("10.0.0.5:4245"));
  EXPECT_TRUE(validate_peer_address("[fd00::5]:4245"));
  for (const std::string bad : {"unix:relative.sock", "unix:///", "node-a", "node-a:", ":4245",
                                "node-a:0", "node-a:65536", "node-a:42x"}) {
    auto s = validate_peer_address(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message().find("--peers \"" + bad + "\""), std::string::npos)
        << s.error().message();
  }
}

TEST(Peers, DnsNameResolvesToEveryAddressWithThePort) {
  auto found = resolve_peers("localhost:4245");
  ASSERT_TRUE(found) << found.error().message();
  ASSERT_FALSE(found->empty());
  for (const auto& address : *found) {
    EXPECT_TRUE(address == "127.0.0.1:4245" || address == "[::1]:4245") << address;
  }
  auto bad = resolve_peers("localhost");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("--peers-dns"), std::string::npos);
}

TEST(Peers, PeerSetRefusesNoPeersDuplicatesAndHalfAClientCertificate) {
  EXPECT_FALSE(PeerSet::create({}));
  PeerOptions twice;
  twice.static_peers = {"unix:///a.sock", "unix:///a.sock"};
  auto dup = PeerSet::create(twice);
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("given twice"), std::string::npos);
  PeerOptions half;
  half.static_peers = {"node-a:4245"};
  half.tls.cert = "/nonexistent/cert.pem";
  auto h = PeerSet::create(half);
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message().find("--peer-tls-key"), std::string::npos);

  PeerOptions ok;
  ok.static_peers = {"unix:///a.sock", "node-a:4245"};
  auto set = PeerSet::create(ok);
  ASSERT_TRUE(set) << set.error().message();
  const auto peers = (*set)->current();
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0].address, "unix:///a.sock");
  EXPECT_EQ(peers[1].address, "node-a:4245");
}

}  // namespace
}  // namespace recorder::relay
