// Datapath: the eBPF capture path as one object. It loads the BPF object (checking its ABI
// version), attaches the tc ingress/egress programs to the interfaces that match the configured
// names and globs (following interfaces that appear and disappear), keeps the kernel rule table
// equal to the Router's rules (RuleListener), and reads the per-CPU perf or ring buffers on the
// source thread (PacketSource), turning kernel timestamps into wall-clock time.
//
// Ownership: the Datapath owns the BPF object, its links, every clsact qdisc and tc filter it
// created, and the buffers. Destroying it detaches exactly what it attached and removes only
// the qdiscs it created.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "datapath/tc_attachment.h"
#include "dispatch/dispatcher.h"
#include "dispatch/source.h"

namespace recorder::datapath {

enum class Transport : uint8_t {
  kAuto,        // the fastest the kernel supports (per-CPU ring buffers, else perf buffer)
  kPerfBuffer,  // per-CPU perf buffer with a wakeup watermark
  kRingBuffer,  // one BPF ring buffer per CPU; wakes the reader per 2 MiB or after a quiet spell
};

struct Options {
  // Exact names and globs ("eth0", "lxc*", "veth*"). Empty: every up, non-loopback interface,
  // including ones that appear later.
  std::vector<std::string> interfaces;
  Transport transport = Transport::kAuto;
  AttachMode attach_mode = AttachMode::kAuto;  // tcx links where the kernel has them
  size_t buffer_bytes_per_cpu = 8u << 20;      // perf/ring buffer size per CPU
  uint32_t max_latency_ms = 100;               // a quiet packet reaches dispatch within this
  // Called on the reader thread after an interface was attached or forgotten (the set of
  // attached_interfaces() changed). Optional.
  std::function<void()> interfaces_changed;
};

struct KernelLoss {
  uint64_t recording_id = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

// Packets and bytes on one interface and direction, since the datapath opened.
struct InterfaceCount {
  int ifindex = 0;
  std::string interface;  // empty when the interface is gone
  Direction direction = Direction::kUnknown;
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

// What the datapath could not hand on exactly, since it opened.
struct DatapathHealth {
  // Packets the kernel could not classify (recorder_abi.h: a header truncated, malformed or
  // beyond the parse limits).
  std::vector<InterfaceCount> unclassified;
  // Packets that matched a recording's filter in the kernel and reached user space (kernel
  // buffer losses never arrive: they are counted per recording). Bytes: lengths on the wire.
  std::vector<InterfaceCount> matched;
  uint64_t malformed_samples = 0;  // samples too short for their header or cap_len: dropped
  uint64_t lost_samples = 0;       // samples the perf buffer reported lost (not attributable)
};

struct AttachedInterface {
  int ifindex = 0;
  std::string name;
  LinkType link_type = LinkType::kEthernet;
};

class Datapath : public PacketSource, public RuleListener {
 public:
  ~Datapath() override = default;

  // Loads and attaches. UNAVAILABLE with the reason (and the verifier log) when BPF cannot be
  // used; INVALID_ARGUMENT when an exact interface name does not exist.
  static Result<std::unique_ptr<Datapath>> open(Options options);

  // Kernel losses (perf/ring buffer full) since the last call, attributed to recordings through
  // the per-rule counters. Losses of rules removed since the last call are included.
  virtual std::vector<KernelLoss> take_kernel_losses() = 0;

  virtual std::vector<AttachedInterface> attached_interfaces() const = 0;
  virtual DatapathHealth health() const = 0;
  // "perf buffer" or "ring buffer".
  virtual std::string transport_name() const = 0;
};

}  // namespace recorder::datapath
