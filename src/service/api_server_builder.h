// api_server_builder(): a grpc::ServerBuilder set up as recorderd's API server (server.h) is, so
// that bench/daemon/grpc_idle_floor builds the same gRPC server without the daemon around it.
//
// Process-wide, before the builder exists (gRPC reads them when a builder is made or built):
// gRPC's log goes to ours (grpc_log.h); gRPC's default health check service is off (it is
// callback-based: see health_service.h); server reflection is on, for every server built from
// then on. On the builder: the sync server's pollers wait an hour in their completion queue.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

namespace recorder::service {

std::unique_ptr<grpc::ServerBuilder> api_server_builder();

// The builder's sync-server pollers wait an hour in their completion queue instead of waking
// every 10 s (api_server_builder() does it; the health-only server, health_server.h, too).
void quiet_sync_pollers(grpc::ServerBuilder& builder);

}  // namespace recorder::service
