// SinkChannel: the state one Sink shares with the writer thread that serves it.
//
// The producer (dispatch) encodes records into `queue` (encoding_queue.h), whose StreamRing holds
// the file's bytes at their file offsets. The writer thread writes from the ring straight into
// the file and releases ring space once a write has completed; it is the only one touching the
// `writer` part. Control (open/close) talks to the writer through `close_requested` and
// `drained`. Owned by the Sink; the writer thread holds a raw pointer from register until
// `drained`.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>

#include <sys/types.h>

#include "common/wakeup.h"
#include "sink/encoding_queue.h"

namespace recorder::sink {

struct SinkChannel {
  static constexpr size_t kBlock = StreamRing::kBlock;  // O_DIRECT alignment of offsets,
                                                        // lengths and memory
  static constexpr size_t kMaxWrites = 8;               // writes in flight per sink

  SinkChannel(FileFormat format, uint32_t snap_length, size_t queue_bytes)
      : queue(format, snap_length, queue_bytes) {
    // Direct writes of a quarter of the ring (whole blocks, at most 4 MiB); the writer is woken
    // once that much waits unwritten. Large writes mean few writes, few writer wakeups and few
    // io_uring worker wakeups per second (each costs more CPU than the write's own work here).
    const size_t quarter = queue.capacity() / 4 / kBlock * kBlock;
    write_size = std::clamp<size_t>(quarter, kBlock, 4u << 20);
  }

  EncodingQueue queue;

  // Set at open, read-only afterwards.
  int direct_fd = -1;    // O_DIRECT when `direct`, else the same as buffered_fd (the writer
                         // switches to buffered_fd if a direct write is refused)
  int buffered_fd = -1;  // for the unaligned tail of a flush and for the trailer
  int odirect_fd = -1;   // the O_DIRECT descriptor, if one was opened (closed at close)
  bool direct = false;
  size_t write_size = 0;  // bytes per direct write (whole blocks)
  std::string name;       // for log lines

  // Control -> writer.
  std::atomic<bool> close_requested{false};
  std::promise<void> drained;  // set by the writer once everything queued is in the file

  // Writer -> everyone (the first write error's errno is queue.failure_errno()).
  const Wakeup* on_failure = nullptr;  // notified once the failure errno is set (SinkOptions)
  // Set with the failure errno (ENOSPC) when the write was not made because it would have taken the
  // filesystem below the pool's free-space floor.
  std::atomic<bool> floor_reached{false};

  // Writer thread only (read by control after `drained`). Positions are stream positions, which
  // are file offsets.
  struct Write {
    uint64_t offset = 0;
    size_t length = 0;
    bool done = false;
  };
  struct Writer {
    Write writes[kMaxWrites];  // in flight, in submission (= offset) order, from `first`
    size_t first = 0, count = 0;
    uint64_t seen = 0;       // the ring head at the previous round
    uint64_t submitted = 0;  // writes submitted up to here (whole blocks when direct)
    uint64_t visible = 0;    // in the file or in flight up to here (>= submitted)
    std::chrono::steady_clock::time_point pending_since{};
    uint64_t allocated_end = 0;  // fallocate()d up to here (or given up on until here)
    bool fallocate_ok = true;
    uint64_t claimed_end = 0;  // space below this offset is claimed from the free-space floor
    dev_t dev = 0;             // the file's filesystem
    uint64_t failed_at = UINT64_MAX;  // lowest file offset a write failed at
    int memory_slot = -1;             // the ring's fixed-buffer slot in the writer's io_uring
    bool done = false;
  } writer;

  // Everything the producer queued (the file's length before the trailer).
  uint64_t stream_end() const { return queue.stream_bytes(); }
};

}  // namespace recorder::sink
