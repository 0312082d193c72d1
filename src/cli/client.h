// Channel creation for recorderctl: "unix:///path" (the default, the daemon's socket) or
// "host:port" over TLS (server verified with --tls-ca; client certificate with --tls-cert and
// --tls-key for mutual TLS). Without any TLS flag a TCP address is used in plaintext, for
// tests against a local port forward.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace recorder::cli {

struct ClientOptions {
  std::string server = "unix:///run/pcap-recorder/recorder.sock";
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  // The name the server's certificate must carry; empty: the host of `server` (the relay sets it
  // for peers it found by DNS, which it dials by address).
  std::string tls_server_name;
};

Result<std::shared_ptr<grpc::Channel>> make_channel(const ClientOptions& options);

}  // namespace recorder::cli
