// VethNamespace: a network namespace and a veth pair (host end in the test's namespace, peer
// end inside the new one) with IPv4 and IPv6 addresses, removed in the destructor also when
// the test fails. Traffic helpers send real packets over it: UDP from the host side, TCP to a
// listener that runs inside the namespace (a thread that entered it with setns).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include <vector>
#include "hook_programs.h"

#include "privileged.h"

namespace recorder::testing {

class VethNamespace {
 public:
  // `host_name`: the host-side interface name (unique, <= 15 chars).
  explicit VethNamespace(const std::string& host_name) : host_(host_name) {
    static int counter = 0;
    const int subnet = (getpid() * 7 + counter++) % 250 + 1;
    ns_ = unique_name("n");
    peer_ = unique_name("p");
    host4_ = "10.213." + std::to_string(subnet) + ".1";
    peer4_ = "10.213." + std::to_string(subnet) + ".2";
    host6_ = "fd99:" + std::to_string(subnet) + "::1";
    peer6_ = "fd99:" + std::to_string(subnet) + "::2";
    ok_ = sh("ip netns add " + ns_) == 0 &&
          sh("ip link add " + host_ + " type veth peer name " + peer_ + " netns " + ns_) == 0 &&
          sh("ip addr add " + host4_ + "/24 dev " + host_) == 0 &&
          sh("ip -6 addr add " + host6_ + "/64 dev " + host_ + " nodad") == 0 &&
          sh("ip link set " + host_ + " up") == 0 &&
          sh(in_ns("ip addr add " + peer4_ + "/24 dev " + peer_)) == 0 &&
          sh(in_ns("ip -6 addr add " + peer6_ + "/64 dev " + peer_ + " nodad")) == 0 &&
          sh(in_ns("ip link set " + peer_ + " up")) == 0 && sh(in_ns("ip link set lo up")) == 0;
  }
  ~VethNamespace() {
    sh("ip link del " + host_ + " 2>/dev/null");
    sh("ip netns del " + ns_ + " 2>/dev/null");
  }
  VethNamespace(const VethNamespace&) = delete;
  VethNamespace& operator=(const VethNamespace&) = delete;

  bool ok() const { return ok_; }
  std::string in_ns(const std::string& command) const {
    return "ip netns exec " + ns_ + " " + command;
  }
  // Deletes the veth now (the namespace stays until destruction).
  void delete_link() { sh("ip link del " + host_ + " 2>/dev/null"); }

  const std::string& ns() const { return ns_; }
  const std::string& host() const { return host_; }
  const std::string& peer() const { return peer_; }  // the veth end inside the namespace
  const std::string& host4() const { return host4_; }
  const std::string& peer4() const { return peer4_; }
  const std::string& host6() const { return host6_; }
  const std::string& peer6() const { return peer6_; }

  // Sends `count` UDP datagrams of `size` bytes from the host side to peer:port.
  void send_udp(bool v6, uint16_t port, int count, size_t size) const {
    const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    sockaddr_storage to{};
    socklen_t len;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&to);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      inet_pton(AF_INET6, peer6_.c_str(), &a->sin6_addr);
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&to);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      inet_pton(AF_INET, peer4_.c_str(), &a->sin_addr);
      len = sizeof(*a);
    }
    std::string payload(size, 'x');
    for (int i = 0; i < count; ++i) {
      payload[0] = static_cast<char>(i);
      sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), len);
      if (i % 8 == 7) usleep(1000);  // a rate tcpdump (the reference) keeps up with
    }
    close(fd);
  }

  // Sends raw Ethernet frames out of the peer end (an AF_PACKET socket made inside the
  // namespace), so they arrive on the host end's ingress exactly as given.
  bool inject(const std::vector<std::vector<uint8_t>>& frames) const {
    int fd = -1;
    int ifindex = 0;
    std::thread ns_thread([&] {
      const int nsfd = open(("/var/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) return;
      close(nsfd);
      ifindex = static_cast<int>(if_nametoindex(peer_.c_str()));
      fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: send only
    });
    ns_thread.join();
    if (fd < 0 || ifindex == 0) return false;
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    bool ok = true;
    for (const auto& f : frames) {
      std::memcpy(to.sll_addr, f.data(), 6);
      ok = ok && sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
                     static_cast<ssize_t>(f.size());
    }
    close(fd);
    return ok;
  }

  // One TCP connection from the host side to a listener inside the namespace; sends `bytes`.
  bool tcp_exchange(bool v6, uint16_t port, size_t bytes) const {
    int listener = -1;
    std::thread ns_thread([&] {
      const int nsfd = open(("/var/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) return;
      close(nsfd);
      // Sockets keep the namespace they were created in.
      listener = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
      const int one = 1;
      setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    });
    ns_thread.join();
    if (listener < 0) return false;
    sockaddr_storage addr{};
    socklen_t len;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      inet_pton(AF_INET6, peer6_.c_str(), &a->sin6_addr);
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      inet_pton(AF_INET, peer4_.c_str(), &a->sin_addr);
      len = sizeof(*a);
    }
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(listener, 1)) {
      close(listener);
      return false;
    }
    size_t received = 0;
    std::thread server([&] {
      const int c = accept(listener, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      ssize_t n;
      while ((n = read(c, buf, sizeof(buf))) > 0) received += static_cast<size_t>(n);
      close(c);
    });
    const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0;
    std::string data(bytes, 'y');
    size_t sent = 0;
    while (ok && sent < bytes) {
      const ssize_t n = write(fd, data.data() + sent, bytes - sent);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    close(fd);
    server.join();
    close(listener);
    return ok && received == bytes;
  }

 private:
  std::string host_, peer_, ns_;
  std::string host4_, peer4_, host6_, peer6_;
  bool ok_ = false;
};

// No tc filter and no clsact qdisc left on `dev` (both hooks).
// A neighbour's tc filter (u32, matching everything) on `hook` ("ingress"/"egress") of `dev`,
// which must have a clsact qdisc; returns the exit status of `tc`.
inline int add_foreign_filter(const std::string& dev, const std::string& hook, int priority) {
  return sh("tc filter add dev " + dev + " " + hook + " prio " + std::to_string(priority) +
            " protocol all u32 match u32 0 0");
}

// No program of the recorder on the interface's tcx hooks, and no clsact filter or qdisc at all.
inline bool tc_clean(const std::string& dev) {
  return hook_programs(dev).recorder_total() == 0 &&
         sh_output("tc filter show dev " + dev + " ingress 2>/dev/null").empty() &&
         sh_output("tc filter show dev " + dev + " egress 2>/dev/null").empty() &&
         sh_output("tc qdisc show dev " + dev + " 2>/dev/null | grep clsact").empty();
}

}  // namespace recorder::testing
