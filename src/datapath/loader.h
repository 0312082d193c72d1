// Loader: opens the recorder BPF object through its skeleton (the embedded object, or a file of
// another build), checks its ABI version (read from the object's own BTF and rodata, so a
// mismatch is seen whatever the layout of the rest), sets the
// rodata knobs (transport) and the buffer maps' sizes, loads it, and for the ring-buffer
// transport creates one BPF ring buffer per CPU. Owns the skeleton (and so every map and
// program fd) and the ring buffer fds. A failed load returns UNAVAILABLE with the verifier log.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

struct recorder_bpf;  // the generated skeleton (recorder/recorder.skel.h)

namespace recorder::datapath {

enum class BpfTransport { kPerfBuffer, kRingBuffer };

// The size a per-CPU buffer (perf or BPF ring buffer) really gets for `requested` bytes: a
// power-of-two number of pages, as both kinds need.
size_t per_cpu_buffer_bytes(size_t requested);

// How many bytes a CPU's buffer holds before the reader is woken, for both transports: 2 MiB, or
// a quarter of a smaller buffer. A sleep and wakeup costs 15-40 us of CPU on the VMs we measure
// on, so at moderate rates the reader's poll timeout, not this, sets the pace; 2 MiB is ~10,000
// small samples and leaves 3/4 of the default 8 MiB buffer for the reader to catch up.
size_t reader_wakeup_bytes(size_t buffer_bytes);

struct LoadOptions {
  BpfTransport transport = BpfTransport::kPerfBuffer;
  size_t ring_bytes_per_cpu = 8u << 20;  // rounded up to a power of two >= page size
  // A BPF object file to load instead of the one built into this program (another build of
  // bpf/recorder; tests use it to check the ABI refusal). It must have the same maps and
  // programs, and the same ABI version, or it is refused.
  std::string object_path;
};

class BpfObject {
 public:
  ~BpfObject();
  BpfObject(const BpfObject&) = delete;
  BpfObject& operator=(const BpfObject&) = delete;

  static Result<std::unique_ptr<BpfObject>> load(const LoadOptions& options);
  // True when the kernel can do per-CPU ring buffers in a map-in-map.
  static bool ring_buffer_supported();

  recorder_bpf* skeleton() const { return skel_; }
  BpfTransport transport() const { return transport_; }
  // Program fds: ingress/egress for Ethernet devices, or the L3 variants.
  int program_fd(bool ingress, bool l3) const;
  int events_fd() const;  // perf event array
  // The kernel's unclassified-packet counters (recorder_unclassified), summed over CPUs.
  struct UnclassifiedCounter {
    int ifindex = 0;
    uint8_t direction = 0;  // enum recorder_direction
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };
  std::vector<UnclassifiedCounter> unclassified() const;
  const std::vector<int>& ring_fds() const { return ring_fds_; }  // one per possible CPU
  int num_cpus() const { return num_cpus_; }

 private:
  BpfObject() = default;
  recorder_bpf* skel_ = nullptr;
  std::string object_bytes_;  // the object file's bytes (object_path), kept while skel_ lives
  BpfTransport transport_ = BpfTransport::kPerfBuffer;
  std::vector<int> ring_fds_;
  int num_cpus_ = 0;
};

}  // namespace recorder::datapath
