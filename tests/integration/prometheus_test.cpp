// recorderd's --metrics-listen scraped by a real Prometheus server (label privileged): the daemon
// captures real traffic on a veth in a namespace the test creates, Prometheus (the Debian
// package) scrapes it every second, and the recording's captured-packets counter read back
// through Prometheus' HTTP API must equal the recording's own count from Get.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "daemon_fixture.h"
#include "http.h"
#include "netns.h"
#include "privileged.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;
using recorder::testing::unique_name;
using recorder::testing::VethNamespace;

constexpr const char* kPrometheus = "/usr/bin/prometheus";

std::string url_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// A Prometheus server on a free loopback port scraping one target every second, with its TSDB in
// a temp dir; stopped (SIGTERM, then SIGKILL) and removed in the destructor, also on failure.
class PrometheusServer {
 public:
  explicit PrometheusServer(const std::string& target) : port_(free_tcp_port()) {
    const fs::path config = dir_.path() / "prometheus.yml";
    std::ofstream(config) << "global:\n"
                             "  scrape_interval: 1s\n"
                             "  evaluation_interval: 1s\n"
                             "scrape_configs:\n"
                             "  - job_name: recorderd\n"
                             "    static_configs:\n"
                             "      - targets: ['"
                          << target << "']\n";
    pid_ = spawn({kPrometheus, "--config.file=" + config.string(),
                  "--storage.tsdb.path=" + (dir_.path() / "data").string(),
                  "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"},
                 dir_.path() / "prometheus.log");
  }
  ~PrometheusServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      if (wait_for_exit(pid_, 10s) == -1) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (::testing::Test::HasFailure()) {
      std::cerr << "---- prometheus log ----\n" << log() << "------------------------\n";
    }
  }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  bool started() const { return pid_ > 0 && port_ != 0; }
  std::string log() const { return read_text(dir_.path() / "prometheus.log"); }

  // The value of the one sample an instant query returns; nullopt while it returns none (not up
  // yet, not scraped yet).
  std::optional<double> query(const std::string& promql) const {
    const HttpResponse r = http_get(port_, "/api/v1/query?query=" + url_encode(promql));
    if (r.status != 200) return std::nullopt;
    const auto json = nlohmann::json::parse(r.body, nullptr, false);
    if (json.is_discarded() || json.value("status", "") != "success") return std::nullopt;
    const auto& result = json["data"]["result"];
    if (!result.is_array() || result.size() != 1) return std::nullopt;
    return std::stod(result[0]["value"][1].get<std::string>());
  }

  // Polls query() until it returns `wanted` or `timeout` passes; the last value seen.
  std::optional<double> wait_for(const std::string& promql, double wanted,
                                 std::chrono::seconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::optional<double> value;
    while (std::chrono::steady_clock::now() < deadline) {
      value = query(promql);
      if (value == wanted) break;
      std::this_thread::sleep_for(200ms);
    }
    return value;
  }

 private:
  TempDir dir_{"prometheus"};
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// The port recorderd logged for --metrics-listen 127.0.0.1:0.
uint16_t metrics_port(const Daemon& d) {
  const std::string log = d.wait_for_log("serving Prometheus metrics");
  const std::string marker = "/metrics, port ";
  const size_t at = log.find(marker);
  return at == std::string::npos ? 0
                                 : static_cast<uint16_t>(std::stoi(log.substr(at + marker.size())));
}

TEST(PrometheusScrape, CapturedPacketsCounterEqualsTheRecordingsOwnCount) {
  RECORDER_REQUIRE_ROOT();
  ASSERT_TRUE(fs::exists(kPrometheus)) << kPrometheus << " missing: run scripts/setup.sh";
  VethNamespace net(unique_name("m"));
  ASSERT_TRUE(net.ok());
  Daemon d({"--interfaces", net.host(), "--metrics-listen", "127.0.0.1:0"});
  const uint16_t port = metrics_port(d);
  ASSERT_NE(port, 0) << d.log();
  PrometheusServer prometheus("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(prometheus.started());

  pb::StartRequest request;
  auto* f = request.mutable_recording()->add_include();
  f->set_destination_cidr(net.peer4());
  f->set_destination_port(9999);
  f->set_protocol(pb::PROTOCOL_UDP);
  grpc::ClientContext start_ctx;
  pb::StartResponse started;
  ASSERT_TRUE(d.recordings().Start(&start_ctx, request, &started).ok());
  const std::string id = std::to_string(started.id());

  // Traffic while Prometheus scrapes: 20 datagrams the recording selects, 10 it does not, then
  // the running counter is seen through Prometheus before the rest arrives.
  net.send_udp(false, 9999, 20, 300);
  net.send_udp(false, 9998, 10, 300);
  wait_until_accounted(d, started.id(), 20, 20s);
  const std::string captured = "recorder_recording_captured_packets_total{id=\"" + id + "\"}";
  EXPECT_EQ(prometheus.wait_for(captured, 20, 60s), 20) << "running recording";
  net.send_udp(false, 9999, 30, 300);
  wait_until_accounted(d, started.id(), 50, 20s);

  grpc::ClientContext stop_ctx;
  pb::StopRequest stop;
  stop.set_id(started.id());
  pb::RecordingInfo stopped;
  ASSERT_TRUE(d.recordings().Stop(&stop_ctx, stop, &stopped).ok());
  grpc::ClientContext get_ctx;
  pb::GetRequest get;
  get.set_id(started.id());
  pb::RecordingInfo info;
  ASSERT_TRUE(d.recordings().Get(&get_ctx, get, &info).ok());
  ASSERT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
  ASSERT_GT(info.stats().packets_captured(), 0u);

  const double own = static_cast<double>(info.stats().packets_captured());
  EXPECT_EQ(prometheus.wait_for(captured, own, 60s), own);
  // The same series carries the file name, and the bytes and losses agree too.
  EXPECT_EQ(prometheus.query("recorder_recording_captured_bytes_total{id=\"" + id + "\",name=\"" +
                             info.file_name() + "\"}"),
            static_cast<double>(info.stats().bytes_captured()));
  EXPECT_EQ(prometheus.query("sum(recorder_recording_lost_packets_total{id=\"" + id + "\"})"),
            static_cast<double>(info.stats().packets_lost()));
  EXPECT_EQ(prometheus.query("recorder_recordings{state=\"stopped\"}"), 1);
  // Every packet the kernel matched on the veth's egress reached the daemon and went to this
  // recording (the only one): what it captured plus what its queue or disk lost.
  EXPECT_EQ(
      prometheus.query("recorder_interface_matched_packets_total{interface=\"" + net.host() +
                       "\",direction=\"egress\"}"),
      static_cast<double>(info.stats().packets_captured() + info.stats().loss().queue_packets() +
                          info.stats().loss().write_packets()));
  // The veth's own egress counter saw at least every datagram sent (and ARP besides).
  const auto egress = prometheus.query("recorder_interface_packets_total{interface=\"" +
                                       net.host() + "\",direction=\"egress\"}");
  ASSERT_TRUE(egress.has_value());
  EXPECT_GE(*egress, 60);
}

}  // namespace
}  // namespace recorder::test
