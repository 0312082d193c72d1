#include "datapath/tc_attachment.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>

#include "datapath/tc_filters.h"

namespace recorder::datapath {
namespace {

// enum bpf_attach_type values of Linux 6.6 (tcx); Debian 12's UAPI headers (6.1) predate them.
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;

const char* direction_name(int dir) { return dir == 0 ? "ingress" : "egress"; }

}  // namespace

TcAttachment::~TcAttachment() { detach(); }

Result<std::unique_ptr<TcAttachment>> TcAttachment::attach(int ifindex, const std::string& name,
                                                           int ingress_prog_fd, int egress_prog_fd,
                                                           AttachMode mode) {
  std::unique_ptr<TcAttachment> a(new TcAttachment());
  a->ifindex_ = ifindex;
  a->name_ = name;
  const int fds[2] = {ingress_prog_fd, egress_prog_fd};
  if (mode != AttachMode::kClsact) {
    Status tcx = a->attach_tcx(fds);
    if (tcx || mode == AttachMode::kTcx || tcx.error().code() == ErrorCode::kNotFound) {
      if (!tcx) return std::move(tcx).error();
      return a;
    }
    spdlog::info("tcx links unavailable on {} ({}); using clsact filters", name,
                 tcx.error().message());
  }
  if (auto s = a->attach_clsact(fds); !s) return std::move(s).error();
  return a;
}

Status TcAttachment::attach_tcx(const int prog_fds[2]) {
  for (int dir = 0; dir < 2; ++dir) {
    // libbpf 1.1 passes an attach type it does not know through to BPF_LINK_CREATE unchanged.
    const int fd = bpf_link_create(
        prog_fds[dir], ifindex_,
        static_cast<bpf_attach_type>(dir == 0 ? kBpfTcxIngress : kBpfTcxEgress), nullptr);
    if (fd < 0) {
      const int err = errno;
      detach();  // the other direction, if it was linked
      return Error::from_errno(
          fmt::format("link the recorder to tcx {} of {}", direction_name(dir), name_), err,
          err == ENODEV ? ErrorCode::kNotFound : ErrorCode::kUnavailable);
    }
    link_fd_[dir] = fd;
  }
  return ok_status();
}

Status TcAttachment::attach_clsact(const int prog_fds[2]) {
  // Our own filters left by a recorderd that died (clsact filters outlive their process).
  if (auto filters = list_tc_filters(ifindex_); filters) {
    for (const TcFilter& f : *filters) {
      if (!is_recorder_filter(f)) continue;
      LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
                  .attach_point = f.ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
      LIBBPF_OPTS(bpf_tc_opts, opts, .handle = f.handle, .priority = f.priority);
      const int err = bpf_tc_detach(&hook, &opts);
      if (err == 0) {
        spdlog::info("removed an orphaned recorder filter from tc {} of {} (program {} id {})",
                     f.ingress ? "ingress" : "egress", name_, f.program_name, f.program_id);
      } else {
        spdlog::warn("remove an orphaned recorder filter from tc {} of {}: {}",
                     f.ingress ? "ingress" : "egress", name_, strerror(-err));
      }
    }
  } else {
    spdlog::warn("look for orphaned recorder filters on {}: {}", name_, filters.error().message());
  }

  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err == 0) {
    created_qdisc_ = true;
  } else if (err != -EEXIST) {
    return Error::from_errno(fmt::format("create the clsact qdisc on {}", name_), err,
                             err == -ENODEV ? ErrorCode::kNotFound : ErrorCode::kUnavailable);
  }
  for (int dir = 0; dir < 2; ++dir) {
    hook.attach_point = dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    // handle 0 / priority 0: the kernel picks free ones; libbpf returns them in opts.
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fds[dir]);
    err = bpf_tc_attach(&hook, &opts);
    if (err != 0) {
      // The destructor undoes what was done so far.
      return Error::from_errno(
          fmt::format("attach the recorder to tc {} of {}", direction_name(dir), name_), err,
          ErrorCode::kUnavailable);
    }
    attached_[dir] = true;
    handle_[dir] = opts.handle;
    priority_[dir] = opts.priority;
  }
  return ok_status();
}

void TcAttachment::detach() {
  for (int& fd : link_fd_) {
    if (fd >= 0) close(fd);  // a tcx link detaches when its last fd closes
    fd = -1;
  }
  if (forgotten_) return;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_);
  for (int dir = 0; dir < 2; ++dir) {
    if (!attached_[dir]) continue;
    hook.attach_point = dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle_[dir], .priority = priority_[dir]);
    const int err = bpf_tc_detach(&hook, &opts);
    if (err != 0 && err != -ENODEV && err != -ENOENT) {
      spdlog::warn("detach the recorder from tc {} of {}: {}", direction_name(dir), name_,
                   strerror(-err));
    }
    attached_[dir] = false;
  }
  if (!created_qdisc_) return;
  created_qdisc_ = false;
  // Someone else may have added filters to the qdisc we created: then it stays.
  auto filters = list_tc_filters(ifindex_);
  if (!filters) {
    spdlog::warn("keep the clsact qdisc of {}: cannot list its filters: {}", name_,
                 filters.error().message());
    return;
  }
  if (!filters->empty()) {
    spdlog::info("keep the clsact qdisc of {}: it carries {} filters of others", name_,
                 filters->size());
    return;
  }
  hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
  const int err = bpf_tc_hook_destroy(&hook);
  if (err != 0 && err != -ENODEV && err != -ENOENT) {
    spdlog::warn("remove the clsact qdisc of {}: {}", name_, strerror(-err));
  }
}

}  // namespace recorder::datapath
