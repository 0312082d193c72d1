#include "datapath/interfaces.h"

#include <fnmatch.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>  // before linux/rtnetlink.h, which would pull in linux/if.h
#include <net/if_arp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823
#endif
#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif

namespace recorder::datapath {
namespace {

unsigned read_sysfs_number(const std::string& name, const char* attribute) {
  std::ifstream in("/sys/class/net/" + name + "/" + attribute);
  std::string text;
  in >> text;
  if (text.empty()) return 0;
  return static_cast<unsigned>(std::stoul(text, nullptr, 0));
}

}  // namespace

Result<std::vector<LinkInfo>> list_links() {
  struct if_nameindex* names = if_nameindex();
  if (names == nullptr) return Error::from_errno("list network interfaces", errno);
  std::vector<LinkInfo> out;
  for (auto* n = names; n->if_index != 0; ++n) {
    LinkInfo link;
    link.ifindex = static_cast<int>(n->if_index);
    link.name = n->if_name;
    link.flags = read_sysfs_number(link.name, "flags");
    link.type = static_cast<unsigned short>(read_sysfs_number(link.name, "type"));
    out.push_back(std::move(link));
  }
  if_freenameindex(names);
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
      auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
      LinkEvent e;
      e.removed = h->nlmsg_type == RTM_DELLINK;
      e.link.ifindex = ifi->ifi_index;
      e.link.flags = ifi->ifi_flags;
      e.link.type = ifi->ifi_type;
      int len = static_cast<int>(IFLA_PAYLOAD(h));
      for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFLA_IFNAME) e.link.name = static_cast<const char*>(RTA_DATA(a));
      }
      events.push_back(std::move(e));
    }
  }
  return events;
}

}  // namespace recorder::datapath
