#include "datapath/tc_filters.h"

#include <bpf/bpf.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>  // AF_UNSPEC
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "datapath/netlink_dump.h"

namespace recorder::datapath {
namespace {

// The program's name, from its id (empty when it is gone or cannot be read).
std::string program_name(uint32_t id) {
  const int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return {};
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  std::string name;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
  close(fd);
  return name;
}

void parse_bpf_options(const rtattr* options, TcFilter& f) {
  int len = RTA_PAYLOAD(options);
  for (auto* a = static_cast<const rtattr*>(RTA_DATA(options)); RTA_OK(a, len);
       a = RTA_NEXT(a, len)) {
    if (a->rta_type == TCA_BPF_ID && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
      std::memcpy(&f.program_id, RTA_DATA(a), sizeof(uint32_t));
    }
  }
}

// The filters of one clsact hook; none when the device has no clsact qdisc.
Status dump(int ifindex, bool ingress, std::vector<TcFilter>& out) {
  struct {
    nlmsghdr header;
    tcmsg tc;
  } request{};
  request.header.nlmsg_len = sizeof(request);
  request.header.nlmsg_type = RTM_GETTFILTER;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.tc.tcm_family = AF_UNSPEC;
  request.tc.tcm_ifindex = ifindex;
  request.tc.tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
  Status s = netlink_dump(&request, sizeof(request), "list the tc filters", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWTFILTER) return;
    const auto* tc = static_cast<const tcmsg*>(NLMSG_DATA(h));
    TcFilter f;
    f.ingress = ingress;
    f.handle = tc->tcm_handle;
    f.priority = TC_H_MAJ(tc->tcm_info) >> 16;
    int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*tc)));
    const rtattr* options = nullptr;
    for (auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(tc) +
                                                   NLMSG_ALIGN(sizeof(*tc)));
         RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == TCA_KIND) f.kind = static_cast<const char*>(RTA_DATA(a));
      if (a->rta_type == TCA_OPTIONS) options = a;
    }
    // The dump also lists each priority's chain head without a handle: not a filter.
    if (f.handle == 0) return;
    if (f.kind == "bpf" && options != nullptr) {
      parse_bpf_options(options, f);
      if (f.program_id != 0) f.program_name = program_name(f.program_id);
    }
    out.push_back(std::move(f));
  });
  // No clsact qdisc (or no such device): no filters.
  if (!s && (s.error().sys_errno() == EINVAL || s.error().sys_errno() == ENOENT ||
             s.error().sys_errno() == ENODEV)) {
    return ok_status();
  }
  return s;
}

}  // namespace

Result<std::vector<TcFilter>> list_tc_filters(int ifindex) {
  std::vector<TcFilter> out;
  Status s = dump(ifindex, true, out);
  if (s) s = dump(ifindex, false, out);
  if (!s) return std::move(s).error();
  return out;
}

std::vector<std::string> tcx_program_names(int ifindex, bool ingress) {
  // enum bpf_attach_type values of Linux 6.6 (BPF_TCX_INGRESS, BPF_TCX_EGRESS).
  const auto type = static_cast<bpf_attach_type>(ingress ? 46 : 47);
  __u32 ids[64];
  __u32 count = 64;
  std::vector<std::string> names;
  if (bpf_prog_query(ifindex, type, 0, nullptr, ids, &count) != 0) return names;
  for (__u32 i = 0; i < count && i < 64; ++i) names.push_back(program_name(ids[i]));
  return names;
}

bool is_recorder_program(const std::string& name) { return name.rfind("recorder_", 0) == 0; }

bool is_recorder_filter(const TcFilter& filter) {
  return filter.kind == "bpf" && is_recorder_program(filter.program_name);
}

}  // namespace recorder::datapath
