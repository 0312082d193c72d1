// recorder-relay: records on every node of a cluster at once and hands back one merged file.
//
// Serves the same gRPC API as recorderd (recorder.Recorder/Record, recorder.Recordings, and the
// flight recorder's recorder.Rings: snapshots, list, status) on a unix socket and/or TCP with TLS
// (the same server setup: service/server.h), on top of ClusterRecordings (cluster_recordings.h)
// instead of a local RecordingManager. The peers are
// recorderd daemons: static (--peers) and/or found by DNS (--peers-dns), reached over mutual TLS
// with --peer-tls-*. SIGTERM/SIGINT: running recordings are stopped and merged, Record streams
// get their `stopped`, exit 0.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "common/daemon_process.h"
#include "metrics/metrics_server.h"
#include "relay/cluster_recordings.h"
#include "relay/peers.h"
#include "relay/relay_metrics.h"
#include "relay/rings_service.h"
#include "service/server.h"
#include "service/units.h"

namespace {
using namespace recorder;

struct Flags {
  std::vector<std::string> peers;
  std::string peers_dns;
  std::string peers_dns_interval = "30s";
  std::string peer_tls_ca, peer_tls_cert, peer_tls_key, peer_tls_server_name;
  std::string storage_path = "/var/lib/pcap-recorder-relay";
  std::string socket = "/run/pcap-recorder/relay.sock";
  std::string node_name;
  std::string listen;
  std::string tls_cert, tls_key, tls_client_ca;
  std::string metrics_listen;
  size_t max_filters = service::ServiceLimits{}.max_filters;
  uint32_t max_snap_length = service::ServiceLimits{}.max_snap_length;
  std::string log_level = "info";
};

int run(const Flags& flags) {
  const sigset_t signals = block_daemon_signals();

  if (!flags.metrics_listen.empty()) {
    if (auto s = metrics::check_listen_address(flags.metrics_listen); !s) {
      throw CLI::ValidationError("--metrics-listen", s.error().message());
    }
  }

  relay::PeerOptions peer_options;
  peer_options.static_peers = flags.peers;
  peer_options.dns = flags.peers_dns;
  auto interval = service::parse_duration(flags.peers_dns_interval);
  if (!interval || interval->count() <= 0) {
    throw CLI::ValidationError("--peers-dns-interval",
                               interval ? "must be longer than 0" : interval.error().message());
  }
  peer_options.dns_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*interval);
  peer_options.tls = {flags.peer_tls_ca, flags.peer_tls_cert, flags.peer_tls_key,
                      flags.peer_tls_server_name};
  auto peers = relay::PeerSet::create(std::move(peer_options));
  if (!peers) {
    spdlog::error("{}", peers.error().message());
    return 2;
  }

  relay::RelayOptions options;
  options.storage_path = flags.storage_path;
  options.node_name = flags.node_name.empty() ? host_name_or("relay") : flags.node_name;
  auto recordings = relay::ClusterRecordings::create(std::move(options), **peers);
  if (!recordings) {
    spdlog::error("{}", recordings.error().message());
    return 1;
  }

  // Read at every scrape, nothing in between; destroyed before what it reads.
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (!flags.metrics_listen.empty()) {
    auto started = metrics::MetricsServer::start(
        flags.metrics_listen, std::make_shared<relay::RelayMetrics>(**peers, **recordings));
    if (!started) {
      spdlog::error("{}", started.error().message());
      return 1;
    }
    metrics_server = std::move(*started);
  }

  service::ServiceLimits limits;
  limits.max_filters = flags.max_filters;
  limits.max_snap_length = flags.max_snap_length;
  service::ServerOptions server_options;
  server_options.socket_path = flags.socket;
  server_options.listen = flags.listen;
  server_options.tls_cert_file = flags.tls_cert;
  server_options.tls_key_file = flags.tls_key;
  server_options.tls_client_ca_file = flags.tls_client_ca;
  relay::RelayRingsService rings(**recordings, **peers, limits, relay::NodeDeadlines{}.call);
  server_options.services = {&rings};
  auto server = service::Server::start(**recordings, limits, server_options);
  if (!server) {
    spdlog::error("{}", server.error().message());
    return 1;
  }
  spdlog::info("recorder-relay ready: {} peer(s) now, storage {}", (*peers)->current().size(),
               flags.storage_path);

  const int sig = wait_for_stop_signal(signals);
  spdlog::info("shutting down ({}): stopping and merging every recording", strsignal(sig));
  (*recordings)->shutdown();
  (*server)->shutdown(std::chrono::milliseconds(3000));
  server->reset();
  metrics_server.reset();
  recordings->reset();
  spdlog::info("recorder-relay stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "recorder-relay: records on every recorderd of a cluster at once and merges the files "
      "(same gRPC API as recorderd)"};
  Flags flags;
  app.add_option("--peers", flags.peers,
                 "recorderd daemons: unix:///path or host:port, comma-separated")
      ->delimiter(',');
  app.add_option("--peers-dns", flags.peers_dns,
                 "NAME:PORT: every address NAME resolves to is a recorderd (e.g. a Kubernetes "
                 "headless Service), resolved again every --peers-dns-interval");
  app.add_option("--peers-dns-interval", flags.peers_dns_interval, "how often to resolve again")
      ->capture_default_str();
  app.add_option("--peer-tls-ca", flags.peer_tls_ca,
                 "CA (PEM) the peers' server certificates chain to (TLS to TCP peers)");
  app.add_option("--peer-tls-cert", flags.peer_tls_cert,
                 "client certificate (PEM) for the peers (mutual TLS)");
  app.add_option("--peer-tls-key", flags.peer_tls_key, "client key (PEM) for the peers");
  app.add_option("--peer-tls-server-name", flags.peer_tls_server_name,
                 "name the peers' certificates carry (default: the host of each static peer, "
                 "the DNS name for --peers-dns)");
  app.add_option("--storage-path", flags.storage_path, "directory for merged files")
      ->capture_default_str();
  app.add_option("--socket", flags.socket, "unix socket to serve on (mode 0660)")
      ->capture_default_str();
  app.add_option("--node-name", flags.node_name,
                 "the relay's name in responses and file names (default: hostname)");
  app.add_option("--listen", flags.listen, "also serve on HOST:PORT over TLS");
  app.add_option("--tls-cert", flags.tls_cert, "server certificate (PEM) for --listen");
  app.add_option("--tls-key", flags.tls_key, "server key (PEM) for --listen");
  app.add_option("--tls-client-ca", flags.tls_client_ca,
                 "CA (PEM) that client certificates must chain to (mutual TLS)");
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "serve Prometheus metrics (per-peer health, recordings) over HTTP on HOST:PORT "
                 "(GET /metrics), e.g. 0.0.0.0:9249");
  app.add_option("--max-filters", flags.max_filters, "include filters per recording")
      ->capture_default_str();
  app.add_option("--max-snap-length", flags.max_snap_length,
                 "largest capture length per packet the relay accepts")
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return run_daemon("recorder-relay", flags.log_level, [&] { return run(flags); });
}
