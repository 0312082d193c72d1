#include "service/health_service.h"

#include <chrono>

namespace recorder::service {
namespace {
using grpc::health::v1::HealthCheckResponse;
// How often a Watch call looks whether its client went away.
constexpr auto kWatchCancelCheck = std::chrono::milliseconds(250);
}  // namespace

HealthCheckResponse::ServingStatus HealthService::status_of(const std::string& service) {
  if (!service.empty()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return serving_ ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

grpc::Status HealthService::Check(grpc::ServerContext* /*context*/,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  std::lock_guard lock(mutex_);
  const auto status = status_of(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "unknown service \"" + request->service() + "\" (only \"\" is known)");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
  std::unique_lock lock(mutex_);
  bool first = true;
  HealthCheckResponse::ServingStatus sent{};
  while (!context->IsCancelled()) {
    const auto status = status_of(request->service());
    if (first || status != sent) {
      HealthCheckResponse response;
      response.set_status(status);
      lock.unlock();
      if (!writer->Write(response)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
      lock.lock();
      first = false;
      sent = status;
    }
    changed_.wait_for(lock, kWatchCancelCheck);
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the watch");
}

void HealthService::shutdown() {
  {
    std::lock_guard lock(mutex_);
    serving_ = false;
  }
  changed_.notify_all();
}

}  // namespace recorder::service
