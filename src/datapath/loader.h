// Loader: opens the recorder BPF object through its skeleton, checks its ABI version, sets the
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

struct LoadOptions {
  BpfTransport transport = BpfTransport::kPerfBuffer;
  size_t ring_bytes_per_cpu = 8u << 20;  // rounded up to a power of two >= page size
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
  int events_fd() const;                                          // perf event array
  const std::vector<int>& ring_fds() const { return ring_fds_; }  // one per possible CPU
  int num_cpus() const { return num_cpus_; }

 private:
  BpfObject() = default;
  recorder_bpf* skel_ = nullptr;
  BpfTransport transport_ = BpfTransport::kPerfBuffer;
  std::vector<int> ring_fds_;
  int num_cpus_ = 0;
};

}  // namespace recorder::datapath
