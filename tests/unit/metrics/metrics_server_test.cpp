// MetricsServer: the --metrics-listen address check, and the HTTP endpoint on loopback answering
// a real GET /metrics with what its collectables and registry hold.
#include "metrics/metrics_server.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "exposition.h"
#include "http.h"
#include "metrics/family.h"

namespace recorder::metrics {
namespace {

TEST(ListenAddress, AcceptsNumericHostAndPort) {
  for (const char* good : {"0.0.0.0:9090", "127.0.0.1:0", "[::1]:9100", "[::]:65535"}) {
    EXPECT_TRUE(check_listen_address(good).ok()) << good;
  }
}

TEST(ListenAddress, RefusesWhatItCannotBindAndSaysWhy) {
  const std::pair<const char*, const char*> bad[] = {
      {"9090", "no port"},
      {"127.0.0.1:", "port must be a number"},
      {"127.0.0.1:http", "port must be a number"},
      {"127.0.0.1:65536", "port must be a number"},
      {":9090", "IPv4 address or an IPv6 address"},
      {"localhost:9090", "IPv4 address or an IPv6 address"},
      {"[::1:9090", "IPv4 address or an IPv6 address"},
      {"[fe80::zz]:9090", "not an IPv6 address"},
  };
  for (const auto& [text, why] : bad) {
    auto s = check_listen_address(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message().find(why), std::string::npos) << s.error().message();
    EXPECT_NE(s.error().message().find(text), std::string::npos) << s.error().message();
  }
}

class FixedCollectable final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    auto f = gauge_family("recorder_test_peers", "Peers by state");
    add_sample(f, 3, {{"state", "up"}});
    add_sample(f, 1, {{"state", "down \"x\""}});
    return {f};
  }
};

TEST(MetricsServer, ServesCollectablesAndRegistryOverHttp) {
  auto server = MetricsServer::start("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.error().message();
  ASSERT_NE((*server)->port(), 0);
  (*server)->add(std::make_shared<FixedCollectable>());
  auto& family = prometheus::BuildCounter()
                     .Name("recorder_test_dials_total")
                     .Help("Dials")
                     .Register((*server)->registry());
  family.Add({{"peer", "node-a"}}).Increment(5);

  const recorder::test::HttpResponse response =
      recorder::test::http_get((*server)->port(), "/metrics");
  ASSERT_EQ(response.status, 200) << response.body;
  std::string error;
  const test::Exposition e = test::parse_exposition(response.body, &error);
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(e.types.at("recorder_test_peers"), "gauge");
  EXPECT_EQ(e.value("recorder_test_peers", {{"state", "up"}}), 3);
  EXPECT_EQ(e.value("recorder_test_peers", {{"state", "down \"x\""}}), 1);  // escaped and back
  EXPECT_EQ(e.types.at("recorder_test_dials_total"), "counter");
  EXPECT_EQ(e.value("recorder_test_dials_total", {{"peer", "node-a"}}), 5);
}

TEST(MetricsServer, APortInUseIsAnErrorNotAnException) {
  auto first = MetricsServer::start("127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = MetricsServer::start("127.0.0.1:" + std::to_string((*first)->port()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(second.error().message().find("serve metrics on 127.0.0.1:"), std::string::npos)
      << second.error().message();
}

}  // namespace
}  // namespace recorder::metrics
