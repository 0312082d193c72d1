// TcAttachment: the recorder's programs on one interface's tc ingress and egress hooks, owned
// RAII, in one of two ways:
//
//  - tcx links (Linux 6.6+, the default where the kernel has them): BPF_LINK_CREATE with
//    BPF_TCX_INGRESS/EGRESS. A link lives as long as its fd, so the programs leave with the
//    process however it ends (kill -9 included), and no qdisc is involved: neighbours' tc
//    filters and qdiscs are never touched.
//  - clsact filters (older kernels, or when asked): before attaching, the recorder's own filters
//    left on the hooks by a process that died are removed (recognised by program name, see
//    tc_filters.h; one recorderd per network namespace owns the recorder's filters there). The
//    clsact qdisc is created only when absent, and destroyed at detach only when this attachment
//    created it and no filter of anyone else is left on it.
//
// When the interface is gone, its links, filters and qdisc went with it and the destructor has
// nothing to do.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"

namespace recorder::datapath {

enum class AttachMode : uint8_t {
  kAuto,    // tcx where the kernel has it, else clsact
  kTcx,     // tcx links only
  kClsact,  // clsact filters only
};

class TcAttachment {
 public:
  ~TcAttachment();
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;

  static Result<std::unique_ptr<TcAttachment>> attach(int ifindex, const std::string& name,
                                                      int ingress_prog_fd, int egress_prog_fd,
                                                      AttachMode mode = AttachMode::kAuto);

  int ifindex() const { return ifindex_; }
  bool uses_tcx() const { return link_fd_[0] >= 0; }
  bool created_qdisc() const { return created_qdisc_; }
  // The interface disappeared: there is nothing left to detach.
  void forget() { forgotten_ = true; }

 private:
  TcAttachment() = default;
  Status attach_tcx(const int prog_fds[2]);
  Status attach_clsact(const int prog_fds[2]);
  void detach();

  int ifindex_ = 0;
  std::string name_;
  bool forgotten_ = false;
  int link_fd_[2] = {-1, -1};   // tcx: ingress, egress
  bool created_qdisc_ = false;  // clsact:
  bool attached_[2] = {false, false};
  uint32_t handle_[2] = {0, 0};
  uint32_t priority_[2] = {0, 0};
};

}  // namespace recorder::datapath
