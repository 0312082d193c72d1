// EncodingQueue: the producer side of a sink. try_append() encodes one packet as a pcap record
// or pcapng block straight into the sink's StreamRing (stream_ring.h); the writer thread writes
// the ring's bytes to the file from where they are. A record is published only when it is in the
// ring whole (a full queue drops it whole), so what the writer sees is always a prefix of a
// valid file.
//
// Producer (dispatch thread): try_append(), never blocks, allocates, throws or makes a syscall
// (except if_indextoname() once when a pcapng recording first sees an interface).
// Consumer (one writer thread): pop(). The writer sleeps until its next flush deadline; the
// producer wakes it (one futex wake) only when the queue passes a watermark while it sleeps,
// so a steady stream costs neither side a syscall per packet or per millisecond. The counters are
// written by the producer only and read by the control side after the producer has stopped (or as
// approximate live statistics).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "dispatch/packet.h"
#include "sink/pcap_encoder.h"
#include "sink/pcapng_encoder.h"
#include "sink/sink.h"
#include "sink/stream_ring.h"

namespace recorder::sink {

// The handshake between one writer thread and the producers of its sinks (the futex side is in
// writer_pool.cpp). The writer sets `sleeping` and reads `sequence` before it checks the queues
// one last time; a producer that pushed past the watermark and sees `sleeping` claims it (only
// one producer makes the syscall) and bumps `sequence`, so the wake is never lost.
//
// When nothing of its sinks is left to write the writer sleeps with no deadline and sets `idle`:
// the first record any producer queues then wakes it. The producer checks `idle` after every
// record with a plain load and no fence: the writer makes the fence for both sides with a
// process-wide barrier (membarrier) between setting `idle` and checking the queues, so either it
// sees the record or the producer's load sees `idle`. Without membarrier the writer never sets
// `idle` and wakes every kIdleWait instead (writer_pool_impl.h).
struct WriterWakeup {
  std::atomic<uint32_t> sequence{0};  // the futex word
  std::atomic<bool> sleeping{false};
  std::atomic<bool> idle{false};
  void wake() noexcept;  // bump sequence + FUTEX_WAKE (writer_pool.cpp)
};

class EncodingQueue {
 public:
  // capacity_bytes is rounded down to whole 4 KiB blocks; check ok() (the ring is mapped here).
  EncodingQueue(FileFormat format, uint32_t snap_length, size_t capacity_bytes);
  bool ok() const { return ring_.ok(); }

  // Pushes the file header (pcap header or pcapng SHB). Call once, before any packet.
  bool push_file_header();

  // Packets longer than the snap length are cut to it (and counted as cut). kFailed once
  // failure_errno() is set.
  AppendResult try_append(const CapturedPacket& packet) noexcept;

  // Writer -> everyone: 0 while the sink's writes succeed, else the errno of the first that
  // failed (e.g. ENOSPC, EFBIG, EIO); from then on the queue takes nothing more. Here rather than
  // in the SinkChannel so that the producer's check shares a line with the rest of an append.
  std::atomic<int>& failure_errno() { return failure_errno_; }
  const std::atomic<int>& failure_errno() const { return failure_errno_; }

  // Set by the writer pool before the sink is handed to producers: whom to wake once the
  // queue holds `watermark` bytes.
  void set_wakeup(WriterWakeup* wakeup, size_t watermark) {
    wakeup_ = wakeup;
    watermark_ = watermark;
  }
  size_t watermark() const { return watermark_; }
  size_t capacity() const { return ring_.capacity(); }

  // Consumer side: the writer reads and releases the ring itself.
  StreamRing& ring() { return ring_; }
  // Copies out and releases up to `max` published bytes (tests and the sink benchmark; the
  // writer writes from the ring in place).
  size_t pop(uint8_t* out, size_t max);
  size_t read_available() const { return static_cast<size_t>(ring_.head() - ring_.tail()); }
  // Bytes the writer has released: their writes to the file completed.
  uint64_t released_bytes() const { return ring_.tail(); }

  // The pcapng trailer (IDB if needed, ISBs); empty for pcap. Control side, producer stopped.
  std::vector<uint8_t> trailer(uint64_t dropped_packets, uint64_t start_ns, uint64_t end_ns);

  FileFormat format() const { return format_; }
  // Producer only: where the last appended record went (stream positions are file offsets).
  RecordPlacement last_placement() const {
    const uint64_t end = ring_.producer_head();
    return {end - record_back_, end,
            interface_block_back_ != 0 ? end - interface_block_back_ : RecordPlacement::kNone};
  }
  uint64_t appended_packets() const { return appended_packets_.load(std::memory_order_relaxed); }
  uint64_t appended_bytes() const { return appended_bytes_.load(std::memory_order_relaxed); }
  uint64_t appended_raw_packets() const { return appended_raw_.load(std::memory_order_relaxed); }
  uint64_t queue_full_packets() const { return queue_full_.load(std::memory_order_relaxed); }
  // Bytes published so far: the stream position is the file offset, so this is the file's
  // length before the trailer.
  uint64_t stream_bytes() const { return ring_.head(); }

 private:
  static void bump(std::atomic<uint64_t>& counter, uint64_t by) {
    // Single writer: a plain load/store pair, no locked read-modify-write on the hot path.
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  // try_append() after the snap-length cut.
  AppendResult append(const CapturedPacket& packet) noexcept;
  // Room for `total` more bytes? Counts a queue-full drop when not.
  bool has_space(size_t total) noexcept;
  // After a record is in the ring: publish it, wake the writer if due, count it.
  void appended(const CapturedPacket& packet) noexcept;
  void wake_writer_if_high() noexcept;
  void wake_idle_writer() noexcept;

  // Laid out for many sinks fed in turn by one producer: an append touches the ring's producer
  // line and the line below, and nothing else of the queue (the encoders' state is for pcapng
  // and the slow path).
  StreamRing ring_;
  alignas(64) FileFormat format_;
  uint32_t snap_length_;
  WriterWakeup* wakeup_ = nullptr;
  size_t watermark_ = SIZE_MAX;
  uint64_t next_wake_check_ = 0;  // producer only: stream position of the next watermark check
  // Producer only: the last appended record, as distances back from the producer head (its end):
  // to the record, and to an interface block written just before it (0: none).
  uint32_t record_back_ = 0;
  uint32_t interface_block_back_ = 0;
  std::atomic<uint64_t> appended_packets_{0};
  std::atomic<uint64_t> appended_bytes_{0};
  std::atomic<int> failure_errno_{0};
  // Cold.
  std::atomic<uint64_t> appended_raw_{0};
  std::atomic<uint64_t> queue_full_{0};
  PcapEncoder pcap_;
  PcapngEncoder pcapng_;
};

}  // namespace recorder::sink
