// tc filters on an interface's clsact hooks, as the kernel lists them (an rtnetlink filter dump),
// and the BPF program behind each: enough to recognise the recorder's own filters left behind by
// a process that died, and to tell whether a clsact qdisc still carries anyone else's. Also the
// programs on the tcx hooks (BPF_PROG_QUERY), for diagnostics and tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace recorder::datapath {

struct TcFilter {
  bool ingress = true;
  uint32_t handle = 0;
  uint32_t priority = 0;
  std::string kind;          // "bpf", "matchall", "u32", ...
  uint32_t program_id = 0;   // kind "bpf": the program's id
  std::string program_name;  // kind "bpf": the program's name (at most 15 characters)
};

// Every filter on the clsact ingress and egress hooks of `ifindex` (none when it has no clsact).
Result<std::vector<TcFilter>> list_tc_filters(int ifindex);

// The names of the programs on the tcx ingress or egress hook of `ifindex`, in order (empty
// without tcx, or when none is attached).
std::vector<std::string> tcx_program_names(int ifindex, bool ingress);

// Is this the name of one of the recorder's tc programs (recorder_ingress, recorder_egress and
// their _l3 variants; the kernel keeps the first 15 characters of a name)?
bool is_recorder_program(const std::string& name);

// Is this a filter the recorder attaches (one of its tc programs)?
bool is_recorder_filter(const TcFilter& filter);

}  // namespace recorder::datapath
