#include "dispatch/recording.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "sink/encoding_queue.h"

namespace recorder {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// The hot path is the only writer of its counters, so a relaxed load + store is enough (and
// cheaper than an atomic read-modify-write).
void bump(std::atomic<uint64_t>& counter, uint64_t by) noexcept {
  counter.store(counter.load(kRelaxed) + by, kRelaxed);
}

bool is_disk_full(int err) { return err == ENOSPC || err == EDQUOT; }

}  // namespace

std::string_view to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kNone:
      return "none";
    case StopReason::kPacketLimit:
      return "packet limit";
    case StopReason::kByteLimit:
      return "byte limit";
    case StopReason::kTimeLimit:
      return "time limit";
    case StopReason::kRequested:
      return "stopped by request";
    case StopReason::kClientGone:
      return "client gone";
    case StopReason::kShutdown:
      return "daemon shutdown";
    case StopReason::kDiskFull:
      return "disk full";
    case StopReason::kWriteError:
      return "write error";
    case StopReason::kInterfaceGone:
      return "interface gone";
    case StopReason::kSourceEnded:
      return "source ended";
  }
  return "unknown";
}

Recording::Recording(uint64_t id, RecordingSpec spec, std::unique_ptr<sink::Sink> sink)
    : snap_length_(spec.snap_length),
      sink_(std::move(sink)),
      queue_(sink_ ? sink_->direct_queue() : nullptr),
      stop_packets_(spec.stop.packets),
      stop_bytes_(spec.stop.bytes),
      id_(id),
      spec_(std::move(spec)) {}

Recording::~Recording() {
  // A recording dropped without finish() still leaves a complete file behind.
  if (!finished_ && sink_) (void)finish();
}

void Recording::offer(const CapturedPacket& packet) noexcept {
  if (limit_reached_.load(kRelaxed) != StopReason::kNone) return;
  if (snap_length_ != 0 && packet.data.size() > snap_length_) {
    // Copied only to cut: the kernel already cut to the largest snap length of the recordings
    // that matched, so this is the rare case of overlapping recordings with different ones.
    CapturedPacket cut = packet;
    cut.data = cut.data.first(snap_length_);
    cut.decoded = nullptr;  // decoded from the whole packet: the sink decodes what it keeps
    append(cut);
  } else {
    append(packet);
  }
}

void Recording::append(const CapturedPacket& packet) noexcept {
  const uint64_t length = packet.data.size();
  switch (queue_ != nullptr ? queue_->try_append(packet) : sink_->try_append(packet)) {
    case sink::AppendResult::kAppended: {
      const uint64_t packets = packets_captured_.load(kRelaxed) + 1;
      const uint64_t bytes = bytes_captured_.load(kRelaxed) + length;
      packets_captured_.store(packets, kRelaxed);
      bytes_captured_.store(bytes, kRelaxed);
      if (stop_packets_ != 0 && packets >= stop_packets_) {
        limit_reached_.store(StopReason::kPacketLimit, kRelaxed);
        if (stop_due_ != nullptr) stop_due_->notify();  // once: offer() takes nothing more
      } else if (stop_bytes_ != 0 && bytes >= stop_bytes_) {
        limit_reached_.store(StopReason::kByteLimit, kRelaxed);
        if (stop_due_ != nullptr) stop_due_->notify();
      }
      break;
    }
    case sink::AppendResult::kQueueFull:
      bump(packets_lost_queue_, 1);
      bump(bytes_lost_queue_, length);
      break;
    case sink::AppendResult::kFailed:
      bump(packets_lost_write_, 1);
      bump(bytes_lost_write_, length);
      break;
  }
}

void Recording::add_kernel_loss(uint64_t packets, uint64_t bytes) noexcept {
  // Control side, possibly several threads: a read-modify-write here.
  packets_lost_kernel_.fetch_add(packets, kRelaxed);
  bytes_lost_kernel_.fetch_add(bytes, kRelaxed);
}

StopReason Recording::pending_stop() const noexcept {
  const StopReason limit = limit_reached_.load(kRelaxed);
  if (limit != StopReason::kNone) return limit;
  if (sink_ && sink_->failed()) {
    int err = sink_->failure_errno();
    if (err == 0) err = write_errno_.load(kRelaxed);  // as close() reported it
    return is_disk_full(err) ? StopReason::kDiskFull : StopReason::kWriteError;
  }
  return StopReason::kNone;
}

RecordingStats Recording::stats() const noexcept {
  RecordingStats s;
  s.packets_captured = packets_captured_.load(kRelaxed);
  s.bytes_captured = bytes_captured_.load(kRelaxed);
  s.packets_lost_kernel = packets_lost_kernel_.load(kRelaxed);
  s.bytes_lost_kernel = bytes_lost_kernel_.load(kRelaxed);
  s.packets_lost_queue = packets_lost_queue_.load(kRelaxed);
  s.bytes_lost_queue = bytes_lost_queue_.load(kRelaxed);
  s.packets_lost_write = packets_lost_write_.load(kRelaxed);
  s.bytes_lost_write = bytes_lost_write_.load(kRelaxed);
  // Packets counted as captured that never reached the file are lost, not captured. (Relaxed
  // loads may see an unwritten count ahead of the captured one it was taken from: never below 0.)
  const uint64_t packets = std::min(packets_unwritten_.load(kRelaxed), s.packets_captured);
  const uint64_t bytes = std::min(bytes_unwritten_.load(kRelaxed), s.bytes_captured);
  s.packets_captured -= packets;
  s.bytes_captured -= bytes;
  s.packets_lost_write += packets;
  s.bytes_lost_write += bytes;
  return s;
}

void Recording::count_unwritten(uint64_t packets, uint64_t bytes) noexcept {
  packets_unwritten_.fetch_add(packets, kRelaxed);
  bytes_unwritten_.fetch_add(bytes, kRelaxed);
}

Result<sink::SinkResult> Recording::finish() {
  if (!sink_) {
    return Error(ErrorCode::kFailedPrecondition,
                 fmt::format("finish recording {}: it has no sink", id_));
  }
  auto result = sink_->close(stats().packets_lost());
  if (!result) return std::move(result).error().wrap(fmt::format("finish recording {}", id_));
  if (!finished_) {
    finished_ = true;
    // close() is idempotent: its write losses are counted once.
    count_unwritten(result->packets_lost_write, result->bytes_lost_write);
    if (result->write_error) write_errno_.store(result->write_error->sys_errno(), kRelaxed);
  }
  return result;
}

}  // namespace recorder
