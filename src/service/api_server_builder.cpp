#include "service/api_server_builder.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>

#include "service/grpc_log.h"

namespace recorder::service {

std::unique_ptr<grpc::ServerBuilder> api_server_builder() {
  route_grpc_log();
  grpc::EnableDefaultHealthCheckService(false);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto builder = std::make_unique<grpc::ServerBuilder>();
  quiet_sync_pollers(*builder);
  return builder;
}

void quiet_sync_pollers(grpc::ServerBuilder& builder) {
  // The sync server's pollers wake every CQ_TIMEOUT_MSEC (default 10 s) to look for work that
  // would have woken them anyway; shutdown shuts their queue down, which wakes them too.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 3600 * 1000);
}

}  // namespace recorder::service
