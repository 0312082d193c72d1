#include "relay/peers.h"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "cli/client.h"

namespace recorder::relay {
namespace {

// Splits "host:port" at the last ':'; the port must be 1..65535.
Result<std::pair<std::string, std::string>> split_host_port(const std::string& text,
                                                            std::string_view what) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{} \"{}\": expected host:port or unix:///path", what, text));
  }
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{} \"{}\": port \"{}\" must be 1..65535", what, text, port));
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, port);
}

}  // namespace

Status validate_peer_address(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) {
    if (address.rfind("unix:///", 0) != 0 || address.size() == 8) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("--peers \"{}\": a unix peer is unix:///absolute/path", address));
    }
    return ok_status();
  }
  auto split = split_host_port(address, "--peers");
  if (!split) return split.error();
  return ok_status();
}

Result<std::vector<std::string>> resolve_peers(const std::string& name_port) {
  auto split = split_host_port(name_port, "--peers-dns");
  if (!split) return split.error();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(split->first.c_str(), split->second.c_str(), &hints, &found);
  if (rc != 0) {
    return Error(ErrorCode::kUnavailable,
                 fmt::format("resolve {}: {}", split->first, ::gai_strerror(rc)));
  }
  std::set<std::string> addresses;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char host[NI_MAXHOST];
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) !=
        0) {
      continue;
    }
    addresses.insert(a->ai_family == AF_INET6 ? fmt::format("[{}]:{}", host, split->second)
                                              : fmt::format("{}:{}", host, split->second));
  }
  ::freeaddrinfo(found);
  return std::vector<std::string>(addresses.begin(), addresses.end());
}

PeerSet::PeerSet(PeerOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<PeerSet>> PeerSet::create(PeerOptions options) {
  if (options.static_peers.empty() && options.dns.empty()) {
    return Error(ErrorCode::kInvalidArgument, "no peers: give --peers and/or --peers-dns");
  }
  if (!options.tls.cert.empty() != !options.tls.key.empty()) {
    return Error(ErrorCode::kInvalidArgument, "--peer-tls-cert and --peer-tls-key go together");
  }
  std::unique_ptr<PeerSet> set(new PeerSet(std::move(options)));
  std::set<std::string> seen;
  for (const auto& address : set->options_.static_peers) {
    if (auto s = validate_peer_address(address); !s) return s.error();
    if (!seen.insert(address).second) {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("--peers \"{}\": given twice", address));
    }
    auto channel = set->channel_for(address, false);
    if (!channel) return channel.error();
    set->static_peers_.push_back({address, *channel, std::make_shared<PeerCalls>()});
  }
  if (!set->options_.dns.empty()) {
    if (auto split = split_host_port(set->options_.dns, "--peers-dns"); !split) {
      return split.error();
    }
    set->resolve_now();
    set->resolver_ = std::thread([s = set.get()] { s->resolve_loop(); });
  }
  return set;
}

PeerSet::~PeerSet() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  wake_.notify_all();
  if (resolver_.joinable()) resolver_.join();
}

Result<std::shared_ptr<grpc::Channel>> PeerSet::channel_for(const std::string& address,
                                                            bool from_dns) const {
  cli::ClientOptions client;
  client.server = address;
  client.tls_ca = options_.tls.ca;
  client.tls_cert = options_.tls.cert;
  client.tls_key = options_.tls.key;
  client.tls_server_name = options_.tls.server_name;
  if (from_dns && client.tls_server_name.empty()) {
    client.tls_server_name = options_.dns.substr(0, options_.dns.rfind(':'));
  }
  auto channel = cli::make_channel(client);
  if (!channel) return channel.error().wrap("peer " + address);
  return channel;
}

void PeerSet::resolve_now() {
  auto addresses = resolve_peers(options_.dns);
  if (!addresses) {
    spdlog::warn("--peers-dns {}: {} (keeping the {} peer(s) found before)", options_.dns,
                 addresses.error().message(), current().size() - static_peers_.size());
    return;
  }
  std::vector<Peer> peers;
  {
    std::lock_guard lock(mutex_);
    for (const auto& address : *addresses) {
      auto known = std::find_if(dns_peers_.begin(), dns_peers_.end(),
                                [&](const Peer& p) { return p.address == address; });
      if (known != dns_peers_.end()) {
        peers.push_back(*known);
        continue;
      }
      auto channel = channel_for(address, true);
      if (!channel) {
        spdlog::warn("{}", channel.error().message());
        continue;
      }
      spdlog::info("peer {} found by --peers-dns {}", address, options_.dns);
      peers.push_back({address, *channel, std::make_shared<PeerCalls>()});
    }
    for (const auto& old : dns_peers_) {
      if (std::none_of(peers.begin(), peers.end(),
                       [&](const Peer& p) { return p.address == old.address; })) {
        spdlog::info("peer {} no longer in --peers-dns {}", old.address, options_.dns);
      }
    }
    dns_peers_ = std::move(peers);
  }
}

void PeerSet::resolve_loop() {
  std::unique_lock lock(mutex_);
  while (!quit_) {
    wake_.wait_for(lock, options_.dns_interval, [&] { return quit_; });
    if (quit_) break;
    lock.unlock();
    resolve_now();
    lock.lock();
  }
}

std::vector<Peer> PeerSet::current() const {
  std::lock_guard lock(mutex_);
  std::vector<Peer> peers = static_peers_;
  peers.insert(peers.end(), dns_peers_.begin(), dns_peers_.end());
  return peers;
}

}  // namespace recorder::relay
