// Server: the gRPC server of recorderd with both services, the standard health service and
// server reflection, listening on a unix socket (mode 0660) and optionally on TCP with TLS
// (mutual TLS when a client CA is given).
#pragma once

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "service/health_service.h"
#include "service/record_service.h"
#include "service/recordings_service.h"
#include "service/rings_service.h"
#include "service/tls_listener.h"

namespace recorder::service {

struct ServerOptions {
  std::filesystem::path socket_path;  // unix socket; empty: none
  std::string listen;                 // "host:port" for TCP; empty: none
  std::string tls_cert_file;          // PEM, required with `listen`
  std::string tls_key_file;
  std::string tls_client_ca_file;  // PEM: require and verify client certificates
  CaptureHealthFn capture_health;  // the datapath's health for List/Get; empty: none
  // The Rings service is served when both are set (recorderd; not owned): the rings, and the
  // manager their snapshots become recordings of.
  ring::RingManager* rings = nullptr;
  RecordingManager* ring_recordings = nullptr;
  // Served as well (not owned; they outlive the server): the relay's own Rings service.
  std::vector<grpc::Service*> services;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> start(RecordingBackend& manager,
                                               const ServiceLimits& limits,
                                               const ServerOptions& options);
  ~Server();

  // Ends streams without a recording, then waits up to `grace` for the rest (whose recordings
  // the caller has stopped) before cancelling them.
  void shutdown(std::chrono::milliseconds grace);

  int tcp_port() const { return tcp_port_; }

 private:
  Server(std::unique_ptr<RecordService> record, RecordingBackend& manager,
         const ServiceLimits& limits, CaptureHealthFn capture_health);

  std::unique_ptr<RecordService> record_;
  RecordingsService recordings_;
  HealthService health_;                   // grpc.health.v1 on the API socket(s) too
  std::unique_ptr<TlsListener> listener_;  // --listen; stopped before the server shuts down
  std::unique_ptr<RingsService> rings_;
  std::unique_ptr<grpc::Server> server_;
  std::filesystem::path socket_path_;
  int tcp_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace recorder::service
