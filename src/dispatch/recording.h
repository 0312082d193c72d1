// Recording: the dispatch-side state of one active recording: its filters, snap length, stop
// conditions, counters, and the Sink it feeds.
//
// The hot path (offer) runs on the dispatch thread only; counters are relaxed atomics that the
// control side reads at any time. A recording stops when the control side (RecordingManager)
// sees a reason (limit reached, time elapsed, sink failed, request), removes it from the routing
// table and then calls finish(), which drains the queue and closes the file.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/wakeup.h"
#include "dispatch/filter.h"
#include "dispatch/packet.h"
#include "sink/sink.h"

namespace recorder {

// 0 (or zero duration) disables a condition; the first that hits stops the recording.
struct StopConditions {
  uint64_t packets = 0;  // stop after exactly this many packets are captured
  uint64_t bytes = 0;    // stop once this many captured bytes are reached (the packet that
                         // reaches it is included, as Hubble counts)
  std::chrono::nanoseconds duration{0};  // stop this long after the start
};

enum class StopReason : uint8_t {
  kNone = 0,
  kPacketLimit,
  kByteLimit,
  kTimeLimit,
  kRequested,      // explicit stop
  kClientGone,     // the Record stream's client went away
  kShutdown,       // the daemon is shutting down
  kDiskFull,       // ENOSPC (or EDQUOT) while writing
  kWriteError,     // any other write error
  kInterfaceGone,  // the interfaces it captured on vanished
  kSourceEnded,    // the packet source ended (replay file finished) or failed
};

// Human-readable, stable: "packet limit", "disk full", "daemon shutdown", ...
std::string_view to_string(StopReason reason);

struct RecordingStats {
  uint64_t packets_captured = 0;
  uint64_t bytes_captured = 0;       // captured bytes (after the snap length), as Hubble counts
  uint64_t packets_lost_kernel = 0;  // perf/ring buffer full in the kernel
  uint64_t bytes_lost_kernel = 0;    // original lengths
  uint64_t packets_lost_queue = 0;   // sink queue full
  uint64_t bytes_lost_queue = 0;
  uint64_t packets_lost_write = 0;  // write errors
  uint64_t bytes_lost_write = 0;

  uint64_t packets_lost() const {
    return packets_lost_kernel + packets_lost_queue + packets_lost_write;
  }
  uint64_t bytes_lost() const { return bytes_lost_kernel + bytes_lost_queue + bytes_lost_write; }

  // Adds another recording's counts (a cluster recording's nodes, a ring on several nodes).
  RecordingStats& operator+=(const RecordingStats& s) {
    packets_captured += s.packets_captured;
    bytes_captured += s.bytes_captured;
    packets_lost_kernel += s.packets_lost_kernel;
    bytes_lost_kernel += s.bytes_lost_kernel;
    packets_lost_queue += s.packets_lost_queue;
    bytes_lost_queue += s.bytes_lost_queue;
    packets_lost_write += s.packets_lost_write;
    bytes_lost_write += s.bytes_lost_write;
    return *this;
  }
};

struct RecordingSpec {
  std::vector<Filter> include;  // at least one; a packet matching any of them is recorded
  uint32_t snap_length = 0;     // 0 = the whole packet (capped by the daemon's limit)
  StopConditions stop;
};

class Recording {
 public:
  Recording(uint64_t id, RecordingSpec spec, std::unique_ptr<sink::Sink> sink);
  ~Recording();
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  uint64_t id() const { return id_; }
  const RecordingSpec& spec() const { return spec_; }

  // Hot path, dispatch thread only: cuts the packet to the snap length, enforces the packet and
  // byte limits, appends to the sink and counts the packet as captured or lost.
  void offer(const CapturedPacket& packet) noexcept;

  // Control side: kernel losses attributed to this recording by the datapath.
  void add_kernel_loss(uint64_t packets, uint64_t bytes) noexcept;

  // kPacketLimit / kByteLimit once the hot path reached a limit, kDiskFull / kWriteError once
  // the sink failed, else kNone. The control side looks at it when `stop_due` (below) or the
  // sink's SinkOptions::on_failure wakes it.
  StopReason pending_stop() const noexcept;

  // Control side, before the recording takes packets: notified (from the hot path, once) when a
  // packet or byte limit is reached. Not owned; must outlive the recording. Optional.
  void notify_limit_to(const Wakeup* stop_due) noexcept { stop_due_ = stop_due; }

  RecordingStats stats() const noexcept;

  // The sink's queue fill and bytes written (any thread, also after finish()).
  sink::SinkProgress sink_progress() const noexcept {
    return sink_ ? sink_->progress() : sink::SinkProgress{};
  }

  // Control side, once the recording is in no published routing table: drains the queue and
  // closes the file. Returns the file result; stats() include write losses afterwards.
  Result<sink::SinkResult> finish();

  // Control side, any thread, also while the hot path appends: packets the sink accepted
  // (counted as captured) that a write error kept out of the file (SinkResult's
  // packets_lost_write). They count as lost to a write error instead, so captured + lost stays
  // exact: finish() for its file, a ring for each chunk it closes while capturing on.
  void count_unwritten(uint64_t packets, uint64_t bytes) noexcept;

 private:
  // offer() after the snap-length cut: the sink append and the accounting.
  void append(const CapturedPacket& packet) noexcept;

  // One cache line holds everything offer() reads and writes for a captured packet: the
  // dispatch thread feeds many recordings in turn, and each line more per recording is a miss
  // more per packet once they no longer all fit in L1. The snap length and limits are copies
  // of spec_'s.
  alignas(64) std::atomic<StopReason> limit_reached_{StopReason::kNone};
  const uint32_t snap_length_;
  std::unique_ptr<sink::Sink> sink_;
  sink::EncodingQueue* const queue_;  // sink_->direct_queue(): appended to directly when set
  // Written by the hot path only (relaxed), read by anyone.
  std::atomic<uint64_t> packets_captured_{0};
  std::atomic<uint64_t> bytes_captured_{0};
  const uint64_t stop_packets_;
  const uint64_t stop_bytes_;
  // Cold.
  const uint64_t id_;
  const RecordingSpec spec_;
  std::atomic<uint64_t> packets_lost_queue_{0};
  std::atomic<uint64_t> bytes_lost_queue_{0};
  std::atomic<uint64_t> packets_lost_write_{0};
  std::atomic<uint64_t> bytes_lost_write_{0};
  std::atomic<uint64_t> packets_lost_kernel_{0};
  std::atomic<uint64_t> bytes_lost_kernel_{0};
  // count_unwritten(): taken from the captured counters and added to the write losses in
  // stats() (the hot path alone writes the captured counters).
  std::atomic<uint64_t> packets_unwritten_{0};
  std::atomic<uint64_t> bytes_unwritten_{0};
  const Wakeup* stop_due_ = nullptr;
  std::atomic<int> write_errno_{0};  // errno of the sink's first write error, known after finish()
  bool finished_ = false;
};

}  // namespace recorder
