#include "datapath/interfaces.h"

#include <fnmatch.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>  // before linux/rtnetlink.h, which would pull in linux/if.h
#include <net/if_arp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "datapath/netlink_dump.h"

#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823
#endif
#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif

namespace recorder::datapath {
namespace {

// One RTM_NEWLINK/RTM_DELLINK message: index, flags, ARPHRD type, name and counters.
LinkInfo parse_link(const nlmsghdr* h) {
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  LinkInfo link;
  link.ifindex = ifi->ifi_index;
  link.flags = ifi->ifi_flags;
  link.type = ifi->ifi_type;
  int len = static_cast<int>(IFLA_PAYLOAD(h));
  for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == IFLA_IFNAME) link.name = static_cast<const char*>(RTA_DATA(a));
    if (a->rta_type == IFLA_STATS64 && RTA_PAYLOAD(a) >= sizeof(rtnl_link_stats64)) {
      rtnl_link_stats64 stats;
      std::memcpy(&stats, RTA_DATA(a), sizeof(stats));  // netlink attributes are 4-byte aligned
      link.rx_packets = stats.rx_packets;
      link.rx_bytes = stats.rx_bytes;
      link.tx_packets = stats.tx_packets;
      link.tx_bytes = stats.tx_bytes;
    }
  }
  return link;
}

}  // namespace

// A netlink dump rather than if_nameindex() plus /sys: /sys shows the network namespace of
// whoever mounted it, so a daemon entered into a pod's namespace with `nsenter -n` would read
// another namespace's flags and types there.
Result<std::vector<LinkInfo>> list_links() {
  struct {
    nlmsghdr header;
    ifinfomsg body;
  } request{};
  request.header.nlmsg_len = sizeof(request);
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.body.ifi_family = AF_UNSPEC;
  std::vector<LinkInfo> out;
  Status s = netlink_dump(&request, sizeof(request), "list the interfaces", [&](const nlmsghdr* h) {
    if (h->nlmsg_type == RTM_NEWLINK) out.push_back(parse_link(h));
  });
  if (!s) return std::move(s).error();
  return out;
}

bool is_glob(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

bool link_selected(const std::vector<std::string>& patterns, const LinkInfo& link) {
  if (patterns.empty()) {
    return (link.flags & IFF_UP) != 0 && (link.flags & IFF_LOOPBACK) == 0 &&
           link.type != ARPHRD_LOOPBACK;
  }
  for (const auto& p : patterns) {
    if (fnmatch(p.c_str(), link.name.c_str(), 0) == 0) return true;
  }
  return false;
}

std::optional<bool> link_is_l3(unsigned short type) {
  switch (type) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK:  // loopback frames carry a (zeroed) Ethernet header
      return false;
    case ARPHRD_NONE:  // tun, wireguard
    case ARPHRD_PPP:
    case ARPHRD_RAWIP:
    case ARPHRD_TUNNEL:
    case ARPHRD_TUNNEL6:
    case ARPHRD_SIT:
    case ARPHRD_IPGRE:
    case ARPHRD_IP6GRE:
      return true;
    default:
      return std::nullopt;
  }
}

LinkWatcher::~LinkWatcher() {
  if (fd_ >= 0) close(fd_);
}

Result<LinkWatcher> LinkWatcher::open() {
  LinkWatcher w;
  w.fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (w.fd_ < 0) return Error::from_errno("open a netlink socket to follow interfaces", errno);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_LINK;
  if (bind(w.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Error::from_errno("subscribe to netlink link events", errno);
  }
  return w;
}

std::vector<LinkEvent> LinkWatcher::read(bool& overrun) {
  std::vector<LinkEvent> events;
  overrun = false;
  alignas(nlmsghdr) char buffer[16384];
  for (;;) {
    const ssize_t got = recv(fd_, buffer, sizeof(buffer), 0);
    if (got < 0 && errno == ENOBUFS) {
      overrun = true;  // the events after it are still queued: keep reading
      continue;
    }
    if (got <= 0) break;  // EAGAIN: drained
    int remaining = static_cast<int>(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, remaining);
         h = NLMSG_NEXT(h, remaining)) {
      if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) continue;
      LinkEvent e;
      e.removed = h->nlmsg_type == RTM_DELLINK;
      e.link = parse_link(h);
      events.push_back(std::move(e));
    }
  }
  return events;
}

}  // namespace recorder::datapath
