// HealthServer: the standard gRPC health service (grpc.health.v1.Health) alone, over plain TCP,
// for probes that cannot speak TLS: Kubernetes' native `grpc:` liveness and readiness probes
// have no TLS options, while recorderd's API port (--listen) requires TLS. It serves nothing
// else, so it gives away only whether the daemon is up.
//
// recorderd starts it once the recording manager and the API server run (so SERVING means
// ready) and marks it NOT_SERVING when the graceful shutdown begins.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/result.h"
#include "service/health_service.h"

namespace recorder::service {

class HealthServer {
 public:
  // Serves on `listen` ("host:port"; port 0: any free port). UNAVAILABLE when it cannot bind.
  static Result<std::unique_ptr<HealthServer>> start(const std::string& listen);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  // The server as a whole ("") reports NOT_SERVING from now on.
  void set_not_serving();
  int port() const { return port_; }

 private:
  HealthServer() = default;
  HealthService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace recorder::service
