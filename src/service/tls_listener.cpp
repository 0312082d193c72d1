#include "service/tls_listener.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "service/grpc_log.h"

namespace recorder::service {
namespace {
constexpr int kBacklog = 128;
// Out of descriptors or memory: the connection waits in the backlog while the listener pauses.
constexpr int kPauseMs = 100;

struct HostPort {
  std::string host;  // empty: every address
  std::string port;
};

Result<HostPort> split_host_port(const std::string& listen) {
  const auto bad = [&](std::string_view why) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("--listen {}: {}", listen, why));
  };
  HostPort hp;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return bad("expected [address]:port");
    }
    hp.host = listen.substr(1, close - 1);
    hp.port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return bad("expected host:port");
    hp.host = listen.substr(0, colon);
    hp.port = listen.substr(colon + 1);
    if (hp.host.find(':') != std::string::npos) return bad("an IPv6 address goes in brackets");
  }
  if (hp.port.empty() || hp.port.size() > 5 ||
      hp.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(hp.port) > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  return hp;
}
}  // namespace

std::string grpc_peer(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text));
    return fmt::format("ipv4:{}:{}", text, ntohs(in.sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
    return fmt::format("ipv6:[{}]:{}", text, ntohs(in6.sin6_port));
  }
  return fmt::format("family {}", address.ss_family);
}

TlsListener::TlsListener(Fd socket, int port, std::string listen)
    : socket_(std::move(socket)), port_(port), listen_(std::move(listen)) {}

Result<std::unique_ptr<TlsListener>> TlsListener::bind(const std::string& listen) {
  auto hp = split_host_port(listen);
  if (!hp) return hp.error();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(hp->host.empty() ? nullptr : hp->host.c_str(), hp->port.c_str(),
                               &hints, &found);
  if (rc != 0) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("--listen {}: resolve {}: {}", listen, hp->host, ::gai_strerror(rc)));
  }
  // The first address that binds. With no host, getaddrinfo lists 0.0.0.0 before ::, so prefer
  // :: there (dual-stack: it takes IPv4 clients too).
  std::vector<const addrinfo*> candidates;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (hp->host.empty() && a->ai_family == AF_INET6) {
      candidates.insert(candidates.begin(), a);
    } else {
      candidates.push_back(a);
    }
  }
  std::string failures;
  for (const addrinfo* a : candidates) {
    Fd fd(::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
      failures += fmt::format("; socket: {}", std::strerror(errno));
      continue;
    }
    const int one = 1;
    const int zero = 0;
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->ai_family == AF_INET6) {
      (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd.get(), kBacklog) != 0) {
      failures += fmt::format("; bind: {}", std::strerror(errno));
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      failures += fmt::format("; getsockname: {}", std::strerror(errno));
      continue;
    }
    const int port = bound.ss_family == AF_INET
                         ? ntohs(reinterpret_cast<const sockaddr_in&>(bound).sin_port)
                         : ntohs(reinterpret_cast<const sockaddr_in6&>(bound).sin6_port);
    ::freeaddrinfo(found);
    return std::unique_ptr<TlsListener>(new TlsListener(std::move(fd), port, listen));
  }
  ::freeaddrinfo(found);
  return Error(ErrorCode::kUnavailable,
               fmt::format("--listen {}: no address to listen on{}", listen, failures));
}

Result<void> TlsListener::start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor) {
  stop_event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_event_) return Error::from_errno("listen on " + listen_ + ": eventfd", errno);
  acceptor_ = std::move(acceptor);
  thread_ = std::thread([this] { accept_loop(); });
  return {};
}

void TlsListener::stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  if (::write(stop_event_.get(), &one, sizeof(one)) < 0) {
    spdlog::error("listen on {}: stop the accept thread: {}", listen_, std::strerror(errno));
    return;  // the thread cannot be told to stop: leaving it beats hanging on join
  }
  thread_.join();
}

TlsListener::~TlsListener() { stop(); }

void TlsListener::accept_loop() {
  pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
      spdlog::error("listen on {}: poll: {}", listen_, std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    const int fd = ::accept4(socket_.get(), reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        spdlog::warn("listen on {}: accept: {}; pausing", listen_, std::strerror(err));
        pollfd stop = fds[1];
        (void)::poll(&stop, 1, kPauseMs);
      }
      continue;  // EAGAIN, ECONNABORTED, EINTR and the like: nothing to hand over
    }
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const std::string name = grpc_peer(peer);
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
    connection.listener_fd = socket_.get();
    connection.fd = fd;  // gRPC owns it from here, also when it refuses the connection
    AcceptedPeer scope(name);
    acceptor_->HandleNewConnection(&connection);
  }
}

}  // namespace recorder::service
