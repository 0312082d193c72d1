// TlsListener: recorderd's TCP listener (--listen). It binds and accepts itself and hands every
// connection to gRPC (an ExternalConnectionAcceptor that carries the server's TLS credentials),
// so it knows each connection's peer while gRPC starts the TLS handshake: see grpc_log.h for
// why (a failed handshake is logged with the peer).
//
// The listener owns its socket and one accept thread, which stop() (or the destructor) ends.
#pragma once

#include <grpcpp/server_builder.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <thread>

#include "common/fd.h"
#include "common/result.h"

namespace recorder::service {

class TlsListener {
 public:
  // Binds and listens on "host:port", "[v6-address]:port" or ":port" (every address); port 0
  // picks a free port. The error names --listen.
  static Result<std::unique_ptr<TlsListener>> bind(const std::string& listen);
  ~TlsListener();
  TlsListener(const TlsListener&) = delete;
  TlsListener& operator=(const TlsListener&) = delete;

  int port() const { return port_; }

  // Accepts connections on a thread of its own and gives each to `acceptor`.
  Result<void> start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor);
  // Stops accepting; connections already handed over stay gRPC's. Idempotent.
  void stop();

 private:
  TlsListener(Fd socket, int port, std::string listen);
  void accept_loop();

  Fd socket_;
  Fd stop_event_;  // eventfd: readable once stop() was called
  int port_;
  std::string listen_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::thread thread_;
};

// gRPC's notation of a socket address: "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000".
std::string grpc_peer(const sockaddr_storage& address);

}  // namespace recorder::service
