// TcAttachment: the recorder's programs on one interface's tc ingress and egress hooks, owned
// RAII. attach() creates the clsact qdisc only when it is absent and remembers whether it did;
// the destructor detaches exactly the two filters it attached (by handle and priority) and
// destroys the qdisc only when it created it. When the interface is gone, its filters and
// qdisc went with it and the destructor has nothing to do.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"

namespace recorder::datapath {

class TcAttachment {
 public:
  ~TcAttachment();
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;

  static Result<std::unique_ptr<TcAttachment>> attach(int ifindex, const std::string& name,
                                                      int ingress_prog_fd, int egress_prog_fd);

  int ifindex() const { return ifindex_; }
  bool created_qdisc() const { return created_qdisc_; }
  // The interface disappeared: there is nothing left to detach.
  void forget() { forgotten_ = true; }

 private:
  TcAttachment() = default;
  void detach();

  int ifindex_ = 0;
  std::string name_;
  bool created_qdisc_ = false;
  bool forgotten_ = false;
  bool attached_[2] = {false, false};  // ingress, egress
  uint32_t handle_[2] = {0, 0};
  uint32_t priority_[2] = {0, 0};
};

}  // namespace recorder::datapath
