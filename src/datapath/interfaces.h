// Interfaces: which network devices the recorder attaches to, and how it learns about new and
// deleted ones.
//
// Selection: exact names and fnmatch globs; an empty list means every up, non-loopback device.
// The device's ARPHRD type decides the program variant: Ethernet-framed devices get the L2
// programs, devices without a link-layer header (tun, wireguard, ip tunnels) the L3 ones.
// LinkWatcher is a NETLINK_ROUTE socket subscribed to RTMGRP_LINK; its fd goes into the reader
// thread's poll loop and read() returns the RTM_NEWLINK/RTM_DELLINK events queued so far.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace recorder::datapath {

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  unsigned flags = 0;       // IFF_*
  unsigned short type = 0;  // ARPHRD_*
  // The interface's own counters (IFLA_STATS64); 0 where the message carries none.
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
};

struct LinkEvent {
  bool removed = false;  // RTM_DELLINK
  LinkInfo link;
};

// Every device of the current network namespace.
Result<std::vector<LinkInfo>> list_links();

// Does `link` belong to the selection? Loopback is never selected by the empty selection.
bool link_selected(const std::vector<std::string>& patterns, const LinkInfo& link);

// Does `pattern` contain glob characters (otherwise it is an exact name that must exist)?
bool is_glob(const std::string& pattern);

// true: L3 programs (no Ethernet header); false: L2 programs; nullopt: unsupported link type.
std::optional<bool> link_is_l3(unsigned short arphrd_type);

class LinkWatcher {
 public:
  LinkWatcher() = default;
  ~LinkWatcher();
  LinkWatcher(LinkWatcher&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  LinkWatcher& operator=(LinkWatcher&&) = delete;

  static Result<LinkWatcher> open();
  int fd() const { return fd_; }
  // Non-blocking: the events queued so far. `overrun` is set when the kernel dropped events
  // (ENOBUFS): only a full rescan (list_links) tells the current state then.
  std::vector<LinkEvent> read(bool& overrun);

 private:
  int fd_ = -1;
};

}  // namespace recorder::datapath
