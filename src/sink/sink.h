// Sink: one recording's file. The dispatch thread encodes packets into the sink's bounded queue
// (pcap or pcapng records, encoded in place); a WriterPool thread drains the queue into the file
// with io_uring in large aligned writes. The file is written under a hidden temporary name and
// renamed to its final name only when complete, so a stopped recording's file is always valid.
//
// Ownership: the Recording owns its Sink; the WriterPool outlives every Sink opened on it.
// Threads: try_append() is for the single producer (dispatch); everything else is control side.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "common/wakeup.h"
#include "dispatch/packet.h"
#include "storage/directory.h"

namespace recorder::sink {

enum class FileFormat : uint8_t { kPcap, kPcapng };

std::string_view file_extension(FileFormat format);  // "pcap" / "pcapng"

// The smallest queue a sink takes: four 4 KiB blocks, so the writer always has a whole block to
// write while the producer fills the next (a one-block ring could only be written when full).
inline constexpr size_t kMinQueueBytes = 16384;

struct SinkOptions {
  std::filesystem::path path;        // the final path; the partial file is "<dir>/.<name>.partial"
  storage::Permissions permissions;  // mode and group of the file (default 0600)
  FileFormat format = FileFormat::kPcap;
  uint32_t snap_length = 262144;   // written in the file header / interface blocks
  size_t queue_bytes = 16u << 20;  // this sink's memory: the ring the file is written from
  // Notified (from a writer thread) once a write fails, so whoever stops the recording need
  // not poll failed(). Not owned; must outlive the sink. Optional.
  const Wakeup* on_failure = nullptr;
  // Reserve disk space well ahead of the writes (fallocate, KEEP_SIZE), for large extents; off
  // when the file must take on disk no more than it holds (a ring's chunks).
  bool preallocate = true;
};

enum class AppendResult : uint8_t {
  kAppended,   // queued; it will be in the file unless a later write fails
  kQueueFull,  // dropped: the writer is behind (count as lost, reason queue full)
  kFailed,     // dropped: the sink had a write error and takes nothing more
};

struct SinkResult {
  std::filesystem::path path;        // absolute final path of the file
  uint64_t file_bytes = 0;           // size of the finished file
  uint64_t packets_written = 0;      // packet records in the file
  uint64_t bytes_written = 0;        // captured packet bytes in the file
  uint64_t packets_lost_write = 0;   // appended, but lost to a write error
  uint64_t bytes_lost_write = 0;     // their captured bytes
  std::optional<Error> write_error;  // the first write error, if any (ENOSPC: disk full)
  // The disk did not complete the writes within drain_timeout: the file is still the partial
  // file (not renamed, not cut to size), repaired at the next start; write_error says so.
  bool abandoned = false;
};

// How far a sink's writer has come, for metrics. Readable from any thread at any time; while the
// producer appends it is a moment's view.
struct SinkProgress {
  uint64_t queued_bytes = 0;          // encoded in the queue, not yet written to the file
  uint64_t queue_capacity_bytes = 0;  // the queue's size
  uint64_t written_bytes = 0;         // bytes whose writes to the file completed (header included)
};

// Where a sink put the last packet it appended in its file (Sink::last_placement()).
struct RecordPlacement {
  static constexpr uint64_t kNone = UINT64_MAX;
  uint64_t offset = 0;  // the packet's record: pcap record header or pcapng EPB
  uint64_t end = 0;     // the file's length after it (before any trailer)
  // pcapng: an interface block written just before the record (its interface is new), else kNone
  uint64_t interface_block = kNone;
};

class WriterPool;
class EncodingQueue;

class Sink {
 public:
  virtual ~Sink() = default;

  // Creates the partial file, writes the file header and registers with the pool.
  // RESOURCE_EXHAUSTED when the pool's total queue memory would be exceeded.
  static Result<std::unique_ptr<Sink>> open(WriterPool& writers, SinkOptions options);

  // Producer only. Encodes one record (all of packet.data, which the caller has already cut to
  // the snap length). Never blocks, allocates or throws.
  virtual AppendResult try_append(const CapturedPacket& packet) noexcept = 0;

  // Producer only: the queue that try_append() does nothing but append to, for a caller that
  // feeds many sinks in turn (dispatch): appending to it directly skips the virtual call and
  // this object's cache line. Null when try_append() does more (a ring cuts chunks).
  virtual EncodingQueue* direct_queue() noexcept { return nullptr; }

  // Producer only, right after try_append() returned kAppended: where that packet's record is
  // in the file (a ring indexes its chunks from this as it writes them).
  virtual RecordPlacement last_placement() const noexcept = 0;

  // True once a write has failed; the recording should stop (see SinkResult::write_error).
  virtual bool failed() const noexcept = 0;

  // 0 while healthy, else the errno of the first failed write (e.g. ENOSPC, EFBIG, EIO).
  virtual int failure_errno() const noexcept = 0;

  // Any thread: the queue's fill and the bytes written so far (see SinkProgress).
  virtual SinkProgress progress() const noexcept = 0;

  // Control side, after the producer has stopped appending: writes everything queued, the
  // trailer (pcapng: an interface statistics block per interface with `dropped_packets`),
  // fixes the file size, renames the file to its final name. Idempotent.
  virtual Result<SinkResult> close(uint64_t dropped_packets) = 0;
};

// The writer threads shared by all sinks; each thread owns one io_uring. Where io_uring cannot
// be set up (kernel, sysctl, seccomp) or `use_io_uring` is false, plain pwrite()s are used and
// backend() says why.
class WriterPool {
 public:
  struct Options {
    unsigned threads = 1;
    bool use_io_uring = true;
    bool direct_io = true;                // O_DIRECT where the filesystem allows it
    size_t total_queue_bytes = 1u << 30;  // bound of all sinks' queues together
    // Free bytes the writers keep on each sink's filesystem (free_space_floor.h): a sink whose
    // next write would go below fails with ENOSPC before the disk is full. 0: no floor.
    uint64_t min_free_disk = 0;
    // How long close() waits for the disk to complete a sink's writes. Past it (a hung device)
    // the sink is given up: close() returns a write error (ETIMEDOUT), the partial file stays
    // for recovery at the next start, and the writer keeps the sink's memory and descriptors.
    std::chrono::milliseconds drain_timeout{30000};
  };

  virtual ~WriterPool() = default;
  static Result<std::unique_ptr<WriterPool>> create(Options options);
  // "io_uring" or "pwrite (io_uring unavailable: <reason>)".
  virtual std::string backend() const = 0;
};

}  // namespace recorder::sink
