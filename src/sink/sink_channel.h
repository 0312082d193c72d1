// SinkChannel: the state one Sink shares with the writer thread that serves it.
//
// The producer (dispatch) encodes records into `queue` (encoding_queue.h: a Boost.Lockfree
// single-producer single-consumer ring used as a byte stream). The writer thread pops the stream
// into large aligned buffers and writes them to the file; it is the only one touching the `writer`
// part. Control (open/close) talks to the writer through `close_requested` and `drained`.
// Owned by the Sink; the writer thread holds a raw pointer from register until `drained`.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>

#include "sink/encoding_queue.h"

namespace recorder::sink {

struct AlignedFree {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, AlignedFree>;

struct SinkChannel {
  static constexpr size_t kBlock = 4096;  // O_DIRECT alignment of offsets, lengths, buffers
  static constexpr size_t kBuffers = 4;   // one filling + up to three in flight

  SinkChannel(FileFormat format, uint32_t snap_length, size_t queue_bytes)
      : queue(format, snap_length, queue_bytes) {}

  EncodingQueue queue;

  // Set at open, read-only afterwards.
  int direct_fd = -1;    // O_DIRECT when `direct`, else the same as buffered_fd (the writer
                         // switches to buffered_fd if a direct write is refused)
  int buffered_fd = -1;  // for the unaligned tail of a flush and for the trailer
  int odirect_fd = -1;   // the O_DIRECT descriptor, if one was opened (closed at close)
  bool direct = false;
  size_t buffer_size = 0;
  std::string name;  // for log lines

  // Control -> writer.
  std::atomic<bool> close_requested{false};
  std::promise<void> drained;  // set by the writer once everything queued is in the file

  // Writer -> everyone.
  std::atomic<int> failure_errno{0};

  // Writer thread only (read by control after `drained`).
  struct Buffer {
    AlignedBuffer data;
    unsigned in_flight = 0;  // writes still reading from this buffer
  };
  struct Writer {
    Buffer buffers[kBuffers];
    size_t current = 0;
    uint64_t buffer_offset = 0;  // file offset of buffers[current][0]
    size_t fill = 0;             // bytes in the current buffer
    size_t submitted = 0;        // bytes of the current buffer handed to the backend
    size_t visible = 0;          // bytes of the current buffer in the file (or in flight)
    std::chrono::steady_clock::time_point pending_since{};
    unsigned in_flight = 0;
    uint64_t allocated_end = 0;  // fallocate()d up to here
    bool fallocate_ok = true;
    uint64_t failed_at = UINT64_MAX;  // lowest file offset a write failed at
    bool done = false;
  } writer;

  uint64_t stream_end() const { return writer.buffer_offset + writer.fill; }
};

}  // namespace recorder::sink
