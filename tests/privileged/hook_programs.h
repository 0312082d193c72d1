// What is attached to an interface's tc hooks, for tests that check attachment and cleanup:
// the recorder's programs on the tcx hooks (BPF_PROG_QUERY) and on the clsact hooks (the same
// rtnetlink filter dump the datapath uses), and everyone else's clsact filters.
#pragma once

#include <net/if.h>

#include <string>

#include "datapath/tc_filters.h"

namespace recorder::testing {

struct HookPrograms {
  int tcx_ingress = 0, tcx_egress = 0;        // the recorder's programs on tcx
  int clsact_ingress = 0, clsact_egress = 0;  // the recorder's clsact filters
  int foreign_filters = 0;                    // clsact filters of others
  int recorder_total() const { return tcx_ingress + tcx_egress + clsact_ingress + clsact_egress; }
  int ingress() const { return tcx_ingress + clsact_ingress; }
  int egress() const { return tcx_egress + clsact_egress; }
};

inline int count_recorder_tcx(int ifindex, bool ingress) {
  int ours = 0;
  for (const auto& name : datapath::tcx_program_names(ifindex, ingress)) {
    if (datapath::is_recorder_program(name)) ++ours;
  }
  return ours;
}

inline HookPrograms hook_programs(const std::string& dev) {
  HookPrograms h;
  const int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
  if (ifindex == 0) return h;
  h.tcx_ingress = count_recorder_tcx(ifindex, true);
  h.tcx_egress = count_recorder_tcx(ifindex, false);
  auto filters = datapath::list_tc_filters(ifindex);
  if (!filters) return h;
  for (const auto& f : *filters) {
    if (!datapath::is_recorder_filter(f)) {
      ++h.foreign_filters;
    } else if (f.ingress) {
      ++h.clsact_ingress;
    } else {
      ++h.clsact_egress;
    }
  }
  return h;
}

}  // namespace recorder::testing
