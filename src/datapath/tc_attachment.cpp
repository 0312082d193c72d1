#include "datapath/tc_attachment.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>

namespace recorder::datapath {

TcAttachment::~TcAttachment() { detach(); }

Result<std::unique_ptr<TcAttachment>> TcAttachment::attach(int ifindex, const std::string& name,
                                                           int ingress_prog_fd,
                                                           int egress_prog_fd) {
  std::unique_ptr<TcAttachment> a(new TcAttachment());
  a->ifindex_ = ifindex;
  a->name_ = name;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err == 0) {
    a->created_qdisc_ = true;
  } else if (err != -EEXIST) {
    return Error::from_errno(fmt::format("create the clsact qdisc on {}", name), err,
                             err == -ENODEV ? ErrorCode::kNotFound : ErrorCode::kUnavailable);
  }
  const int fds[2] = {ingress_prog_fd, egress_prog_fd};
  for (int dir = 0; dir < 2; ++dir) {
    hook.attach_point = dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    // handle 0 / priority 0: the kernel picks free ones; libbpf returns them in opts.
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fds[dir]);
    err = bpf_tc_attach(&hook, &opts);
    if (err != 0) {
      // The destructor of `a` undoes what was done so far.
      return Error::from_errno(
          fmt::format("attach the recorder to tc {} of {}", dir == 0 ? "ingress" : "egress", name),
          err, ErrorCode::kUnavailable);
    }
    a->attached_[dir] = true;
    a->handle_[dir] = opts.handle;
    a->priority_[dir] = opts.priority;
  }
  return a;
}

void TcAttachment::detach() {
  if (forgotten_) return;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_);
  for (int dir = 0; dir < 2; ++dir) {
    if (!attached_[dir]) continue;
    hook.attach_point = dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle_[dir], .priority = priority_[dir]);
    const int err = bpf_tc_detach(&hook, &opts);
    if (err != 0 && err != -ENODEV && err != -ENOENT) {
      spdlog::warn("detach the recorder from tc {} of {}: {}", dir == 0 ? "ingress" : "egress",
                   name_, strerror(-err));
    }
    attached_[dir] = false;
  }
  if (created_qdisc_) {
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    const int err = bpf_tc_hook_destroy(&hook);
    if (err != 0 && err != -ENODEV && err != -ENOENT) {
      spdlog::warn("remove the clsact qdisc of {}: {}", name_, strerror(-err));
    }
    created_qdisc_ = false;
  }
}

}  // namespace recorder::datapath
