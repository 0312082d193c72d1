#include "datapath/rcu_barrier.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>

namespace recorder::datapath {

RcuBarrier::~RcuBarrier() {
  if (outer_fd_ >= 0) close(outer_fd_);
  if (inner_fd_ >= 0) close(inner_fd_);
}

Status RcuBarrier::open() {
  inner_fd_ = bpf_map_create(BPF_MAP_TYPE_ARRAY, "recorder_rcu_in", 4, 4, 1, nullptr);
  if (inner_fd_ < 0) {
    return Error::from_errno("create the RCU barrier's inner map", errno, ErrorCode::kUnavailable);
  }
  LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(inner_fd_));
  outer_fd_ = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "recorder_rcu", 4, 4, 1, &opts);
  if (outer_fd_ < 0) {
    const int err = errno;
    close(inner_fd_);
    inner_fd_ = -1;
    return Error::from_errno("create the RCU barrier's map-in-map", err, ErrorCode::kUnavailable);
  }
  return ok_status();
}

Status RcuBarrier::wait() {
  if (outer_fd_ < 0) {
    if (auto s = open(); !s) return s;
  }
  const uint32_t key = 0;
  if (bpf_map_update_elem(outer_fd_, &key, &inner_fd_, BPF_ANY) != 0) {
    return Error::from_errno("wait for an RCU grace period (map-in-map update)", errno);
  }
  return ok_status();
}

}  // namespace recorder::datapath
