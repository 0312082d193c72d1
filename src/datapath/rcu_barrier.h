// RcuBarrier: waits for an RCU grace period, so that every BPF program run that started before
// the call has finished when it returns.
//
// tc programs run inside an RCU read-side critical section and never sleep. The kernel waits for
// a grace period (synchronize_rcu) whenever user space updates or deletes an element of a
// map-in-map (BPF_MAP_TYPE_ARRAY_OF_MAPS: maybe_wait_bpf_programs() in kernel/bpf/syscall.c),
// precisely so that user space knows no program still uses the old inner map when the call
// returns. RcuBarrier owns a one-slot ARRAY_OF_MAPS and a tiny inner array and rewrites that slot:
// the update is the grace period. That replaces a timed wait, which a program delayed by
// preemption or vCPU steal could outlast. Costs a few to a few tens of milliseconds (control path
// only). Owns both map fds.
#pragma once

#include "common/result.h"

namespace recorder::datapath {

class RcuBarrier {
 public:
  RcuBarrier() = default;
  ~RcuBarrier();
  RcuBarrier(const RcuBarrier&) = delete;
  RcuBarrier& operator=(const RcuBarrier&) = delete;

  // Returns once every BPF program run that was in progress when it was called has finished.
  // Creates the maps on first use.
  Status wait();

 private:
  Status open();

  int inner_fd_ = -1;
  int outer_fd_ = -1;
};

}  // namespace recorder::datapath
