// HealthService: the standard gRPC health service (grpc.health.v1.Health) on gRPC's sync API.
//
// It replaces gRPC 1.51's default health check service, which is built on the callback API: one
// callback-API service on a server makes gRPC start the callback completion queue's two polling
// threads, which wake a few times a second when nothing happens (docs/architecture.md, "What
// wakes the daemon"). Behaviour as the default service's: the server as a whole (service "") is
// SERVING until shutdown(), NOT_SERVING from then on; no other service name is known (Check:
// NOT_FOUND; Watch: SERVICE_UNKNOWN). A Watch call holds a sync server thread while the client
// watches and wakes every 250 ms to notice a cancelled call, which the sync API does not signal.
#pragma once

#include <condition_variable>
#include <mutex>

#include "grpc/health/v1/health.grpc.pb.h"

namespace recorder::service {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

  // NOT_SERVING from now on (a graceful shutdown began); watchers learn it at once.
  void shutdown();

 private:
  grpc::health::v1::HealthCheckResponse::ServingStatus status_of(const std::string& service);

  std::mutex mutex_;
  std::condition_variable changed_;
  bool serving_ = true;
};

}  // namespace recorder::service
