#include "service/health_server.h"

#include <chrono>

#include <fmt/format.h>

#include "service/api_server_builder.h"

namespace recorder::service {

Result<std::unique_ptr<HealthServer>> HealthServer::start(const std::string& listen) {
  std::unique_ptr<HealthServer> health(new HealthServer());
  // Our sync health service, not gRPC's default (callback-based) one: see health_service.h.
  grpc::EnableDefaultHealthCheckService(false);
  grpc::ServerBuilder builder;
  quiet_sync_pollers(builder);  // an idle daemon's health port does not wake it
  builder.RegisterService(&health->service_);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &health->port_);
  health->server_ = builder.BuildAndStart();
  if (!health->server_ || health->port_ == 0) {
    return Error(ErrorCode::kUnavailable,
                 fmt::format("serve the gRPC health service on {}: bind failed (address in use, "
                             "or not HOST:PORT?)",
                             listen));
  }
  return health;
}

void HealthServer::set_not_serving() { service_.shutdown(); }

HealthServer::~HealthServer() {
  if (!server_) return;  // start() failed
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  server_->Wait();
  // As in Server::~Server: grpc::Server's destructor can block forever in grpc_shutdown() on
  // gRPC 1.51 (Debian 12); the server is shut down, its memory is left to process exit.
  (void)server_.release();
}

}  // namespace recorder::service
