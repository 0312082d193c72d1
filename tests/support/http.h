// Plain HTTP on loopback for tests: one GET (HTTP/1.0, the server closes the connection) and a
// free TCP port to give a server that must be told its port up front (Prometheus).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace recorder::test {

struct HttpResponse {
  int status = 0;    // 0: no connection or no answer
  std::string body;  // after the headers
};

inline HttpResponse http_get(uint16_t port, const std::string& path) {
  HttpResponse out;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  // "HTTP/1.x NNN reason\r\n...\r\n\r\nbody"
  const size_t space = response.find(' ');
  const size_t end = response.find("\r\n\r\n");
  if (space == std::string::npos || end == std::string::npos) return out;
  out.status = std::atoi(response.c_str() + space + 1);
  out.body = response.substr(end + 4);
  return out;
}

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
inline uint16_t free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace recorder::test
