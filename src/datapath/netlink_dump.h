// netlink_dump: one rtnetlink dump request (RTM_GETLINK, RTM_GETTFILTER, ...) on a fresh
// NETLINK_ROUTE socket, every answered message handed to a callback until NLMSG_DONE. The one
// send/receive loop of the datapath's interface listing and tc filter listing.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <functional>
#include <string_view>

#include "common/result.h"

namespace recorder::datapath {

// Sends `request` (`size` bytes: an nlmsghdr with NLM_F_REQUEST | NLM_F_DUMP and its body) and
// calls `on_message` for each message of the answer. When netlink answers with an error, the
// Error's sys_errno() is that error (callers may accept some, e.g. ENOENT). `what` names the
// listing in error messages ("list the interfaces").
Status netlink_dump(const void* request, size_t size, std::string_view what,
                    const std::function<void(const nlmsghdr*)>& on_message);

}  // namespace recorder::datapath
