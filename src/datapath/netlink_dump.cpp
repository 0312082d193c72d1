#include "datapath/netlink_dump.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/fd.h"

namespace recorder::datapath {

Status netlink_dump(const void* request, size_t size, std::string_view what,
                    const std::function<void(const nlmsghdr*)>& on_message) {
  const Fd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return Error::from_errno(std::string(what) + ": open a netlink socket", errno);
  if (send(fd.get(), request, size, 0) < 0) {
    return Error::from_errno(std::string(what) + ": send the netlink request", errno);
  }
  alignas(nlmsghdr) char buffer[32768];
  for (;;) {
    const ssize_t got = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return Error::from_errno(std::string(what) + ": read the netlink answer", errno);
    int remaining = static_cast<int>(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, remaining);
         h = NLMSG_NEXT(h, remaining)) {
      if (h->nlmsg_type == NLMSG_DONE) return ok_status();
      if (h->nlmsg_type == NLMSG_ERROR) {
        return Error::from_errno(std::string(what) + " (netlink)",
                                 -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error);
      }
      on_message(h);
    }
  }
}

}  // namespace recorder::datapath
