// MetricsServer: the Prometheus endpoint of a binary started with --metrics-listen HOST:PORT
// (GET /metrics, text exposition format), built on prometheus-cpp's Exposer.
//
// What it serves comes from Collectables that read the binary's current state when Prometheus
// scrapes (nothing is pushed per packet and no thread wakes up to sample), and from the Registry
// for metrics a binary keeps as objects. The exposer's HTTP server (civetweb) runs its own
// threads: one that accepts connections and a small pool that answers scrapes.
//
// Ownership: the server keeps the collectables it is given alive; destroying it stops serving.
// recorderd and recorder-relay each own one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace prometheus {
class Collectable;
class Exposer;
class Registry;
}  // namespace prometheus

namespace recorder::metrics {

// Checks a --metrics-listen value: "HOST:PORT" with a numeric host (an IPv4 address, or an IPv6
// address in brackets: "[::1]:9090") and a port 0-65535 (0: any free port).
Status check_listen_address(std::string_view address);

class MetricsServer {
 public:
  // Listens on `address` (check_listen_address); UNAVAILABLE when it cannot bind.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& address);
  // --metrics-listen as recorderd and recorder-relay serve it: start(address) serving
  // `collectable`, and a log line that says where.
  static Result<std::unique_ptr<MetricsServer>> start(
      const std::string& address, std::shared_ptr<prometheus::Collectable> collectable);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Collected at every scrape, for as long as the server lives.
  void add(std::shared_ptr<prometheus::Collectable> collectable);
  // For counters and gauges kept as objects (prometheus::BuildCounter().Register(registry())).
  prometheus::Registry& registry() { return *registry_; }
  // The port it listens on (the one the kernel chose for port 0).
  uint16_t port() const;

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
};

}  // namespace recorder::metrics
