#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <charconv>
#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace recorder::metrics {

Status check_listen_address(std::string_view address) {
  auto bad = [&](std::string_view why) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("\"{}\": {} (expected HOST:PORT, e.g. 0.0.0.0:9090 or [::1]:9090)",
                             address, why));
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = address.substr(0, colon);
  const std::string_view port = address.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  // The HTTP server binds numeric addresses only: no name resolution.
  unsigned char buf[sizeof(in6_addr)];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string v6(host.substr(1, host.size() - 2));
    if (::inet_pton(AF_INET6, v6.c_str(), buf) != 1) return bad("not an IPv6 address");
    return ok_status();
  }
  if (::inet_pton(AF_INET, std::string(host).c_str(), buf) != 1) {
    return bad("the host must be an IPv4 address or an IPv6 address in brackets");
  }
  return ok_status();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address) {
  if (auto s = check_listen_address(address); !s) {
    return std::move(s).error().wrap("metrics listen address");
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  try {
    // Two threads answer scrapes: one Prometheus, and one more for a person with curl.
    server->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kUnavailable,
                 fmt::format("serve metrics on {}: {} (address in use?)", address, e.what()));
  }
  server->registry_ = std::make_shared<prometheus::Registry>();
  server->exposer_->RegisterCollectable(server->registry_);
  return server;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(
    const std::string& address, std::shared_ptr<prometheus::Collectable> collectable) {
  auto server = start(address);
  if (!server) return server;
  (*server)->add(std::move(collectable));
  spdlog::info("serving Prometheus metrics on http://{}/metrics, port {}", address,
               (*server)->port());
  return server;
}

MetricsServer::~MetricsServer() = default;

void MetricsServer::add(std::shared_ptr<prometheus::Collectable> collectable) {
  exposer_->RegisterCollectable(collectable);
  collectables_.push_back(std::move(collectable));
}

uint16_t MetricsServer::port() const {
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<uint16_t>(ports.front());
}

}  // namespace recorder::metrics
