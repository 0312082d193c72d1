// gRPC's own log lines in recorderd's log, and failed TLS handshakes logged with the peer.
//
// route_grpc_log() sends what gRPC logs (gpr_log) to spdlog: gRPC's errors as errors, its
// informational chatter at debug level, its handshake trace at trace level. gRPC 1.51 (Debian 12)
// reports a failed TLS handshake only in text without the client's address, so the server's TCP
// listener accepts connections itself (tls_listener.h) and hands each to gRPC inside an
// AcceptedPeer scope: gRPC starts the connection's handshake synchronously in that call and
// traces the handshake manager that owns it ("handshaker" trace), which ties the manager to the
// peer. When that manager reports its handshake complete with an error, one info line says
// "TLS handshake with <peer> failed: <reason>".
#pragma once

#include <string>

namespace recorder::service {

// Installs the gpr_log function and enables the "handshaker" trace. Idempotent; call before the
// gRPC server starts.
void route_grpc_log();

// While alive, handshakes that gRPC starts on this thread belong to `peer` (gRPC's peer
// notation, "ipv4:127.0.0.1:5000").
class AcceptedPeer {
 public:
  explicit AcceptedPeer(const std::string& peer);
  ~AcceptedPeer();
  AcceptedPeer(const AcceptedPeer&) = delete;
  AcceptedPeer& operator=(const AcceptedPeer&) = delete;
};

// What gRPC 1.51's handshaker trace line `message` means (exposed for unit tests).
struct HandshakeTrace {
  enum Kind { kOther, kStarted, kCompleted } kind = kOther;
  std::string manager;  // the handshake manager's address, as printed
  std::string error;    // kCompleted: "OK", or the reason without gRPC's {details}
};
HandshakeTrace parse_handshake_trace(const std::string& message);

}  // namespace recorder::service
