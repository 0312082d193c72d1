// The kernel's per-CPU buffers as CpuBuffers (ordered_reader.h), read in place through their
// mmap'ed memory: the perf buffer's per-CPU rings (set up by libbpf's perf_buffer, which also
// gives the epoll fd) and our per-CPU BPF ring buffers (mapped here; libbpf 1.1 has no per-ring
// access).
#pragma once

#include <memory>
#include <vector>

#include "common/result.h"
#include "datapath/ordered_reader.h"

struct perf_buffer;

namespace recorder::datapath {

// One CpuBuffer per CPU of `pb`; `pb` must outlive them.
Result<std::vector<std::unique_ptr<CpuBuffer>>> perf_cpu_buffers(perf_buffer* pb);

// Maps each BPF ring buffer map (one per CPU); the buffers own their mappings.
Result<std::vector<std::unique_ptr<CpuBuffer>>> ring_cpu_buffers(const std::vector<int>& ring_fds);

// An epoll fd (the caller closes it) watching the BPF ring buffers edge-triggered: a ring that
// still holds samples past the reader's horizon must not make every wait return at once; the
// program's forced wakeup, a sample landing in an emptied ring, or the reader's timeout starts
// the next round. Collecting the events (epoll_wait) re-arms it.
Result<int> ring_buffers_epoll(const std::vector<int>& ring_fds);

}  // namespace recorder::datapath
