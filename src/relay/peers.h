// Peers: the recorderd daemons a relay records on. Static addresses (--peers "unix:///path" or
// "host:port") and/or a DNS name (--peers-dns NAME:PORT, e.g. a Kubernetes headless Service):
// every address the name resolves to is a node, and the name is resolved again periodically so
// nodes that join are used by the next recording (a failed lookup keeps the previous answer).
//
// Channels are made once per address and kept while the address is a peer. TCP peers use TLS
// when a CA or client certificate is configured (mutual TLS with both), plaintext otherwise;
// peers found by DNS are dialled by address and verified against the DNS name (or
// tls.server_name).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"

namespace recorder::relay {

struct PeerTls {
  std::string ca;    // PEM file: CA the peers' server certificates chain to
  std::string cert;  // PEM files: the relay's client certificate and key (mutual TLS)
  std::string key;
  std::string server_name;  // name the peers' certificates carry; empty: see above
};

struct PeerOptions {
  std::vector<std::string> static_peers;  // "unix:///path" or "host:port"
  std::string dns;                        // "NAME:PORT"; empty: none
  std::chrono::milliseconds dns_interval{30000};
  PeerTls tls;
};

// What the relay's calls to one peer did, for its health metrics (relay_metrics.h). Shared by
// every copy of the Peer; gone with the peer when DNS no longer names it.
struct PeerCalls {
  std::atomic<uint64_t> total{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<bool> last_ok{true};
  void record(bool ok) {
    total.fetch_add(1, std::memory_order_relaxed);
    if (!ok) failed.fetch_add(1, std::memory_order_relaxed);
    last_ok.store(ok, std::memory_order_relaxed);
  }
};

struct Peer {
  std::string address;  // as dialled: "unix:///path", "host:port", "10.0.0.5:4245"
  std::shared_ptr<grpc::Channel> channel;
  std::shared_ptr<PeerCalls> calls = std::make_shared<PeerCalls>();
};

// Checks one --peers entry: INVALID_ARGUMENT naming it when it is neither "unix:///absolute/path"
// nor "host:port" with a port 1..65535.
Status validate_peer_address(const std::string& address);

// Resolves "NAME:PORT" to "address:port" strings (IPv6 in brackets), sorted, without duplicates.
Result<std::vector<std::string>> resolve_peers(const std::string& name_port);

class PeerSet {
 public:
  // Validates the options, resolves the DNS name once (a failure is logged, not fatal: the
  // name may resolve once the daemons run) and starts the re-resolution thread.
  static Result<std::unique_ptr<PeerSet>> create(PeerOptions options);
  ~PeerSet();
  PeerSet(const PeerSet&) = delete;
  PeerSet& operator=(const PeerSet&) = delete;

  // The peers now: the static ones, then those of the last DNS answer.
  std::vector<Peer> current() const;

 private:
  explicit PeerSet(PeerOptions options);
  void resolve_now();
  void resolve_loop();
  Result<std::shared_ptr<grpc::Channel>> channel_for(const std::string& address,
                                                     bool from_dns) const;

  PeerOptions options_;
  std::vector<Peer> static_peers_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Peer> dns_peers_;
  bool quit_ = false;
  std::thread resolver_;
};

}  // namespace recorder::relay
