// WriterPoolImpl: the writer threads behind WriterPool (sink.h), and the queue memory budget.
//
// Each thread owns one IoBackend (io_uring, or pwrite as the fallback) and serves many sinks:
// it writes each sink's ring straight to its file with O_DIRECT, a write_size piece at a time
// (several in flight), and makes data that waited kFlushAfter visible even when less than a
// piece is queued. A thread sleeps until its next flush deadline, and with nothing pending until
// a record is queued (WriterWakeup; kIdleWait where membarrier is unavailable); a producer wakes
// it with one futex wake only when a queue passes its watermark or it slept with nothing pending.
// Every sleep and wakeup costs CPU (15-40 us on the VMs we measure on), so the constants below
// keep them to a few per second at moderate rates. Sinks register at open and are handed back
// at close. Before writing new space a thread claims it from the pool's FreeSpaceFloor; a sink
// whose write would take its filesystem below the floor fails with ENOSPC instead.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sink/free_space_floor.h"
#include "sink/io_backend.h"
#include "sink/sink.h"
#include "sink/sink_channel.h"

namespace recorder::sink {

class WriterThread;

class WriterPoolImpl final : public WriterPool {
 public:
  // Queued bytes are in the file at most about this long after they were queued (what a crash
  // can lose). A new sink's file header is written at once.
  static constexpr std::chrono::milliseconds kFlushAfter{500};
  // How long an idle thread sleeps where membarrier is unavailable (WriterWakeup).
  static constexpr std::chrono::milliseconds kIdleWait{500};
  // While writes are in flight the thread waits for the first completion, waking at least this
  // often to take new sinks, close requests and queues past their watermark.
  static constexpr std::chrono::microseconds kDiskWait{10000};
  static constexpr uint64_t kFallocateStep = 64u << 20;

  explicit WriterPoolImpl(Options options);
  ~WriterPoolImpl() override;

  Status start();
  std::string backend() const override { return backend_; }
  const Options& options() const { return options_; }

  // Reserves queue memory for a new sink; RESOURCE_EXHAUSTED when over total_queue_bytes.
  Status reserve(size_t bytes);
  void release(size_t bytes);
  size_t reserved() const { return reserved_.load(); }

  // Hands a sink to a writer thread (round robin); the writer owns its `writer` state from now.
  void attach(SinkChannel* channel);
  // Asks the writer to drain the sink completely and let go of it; returns true once it has,
  // false when it has not within options().drain_timeout (a hung disk). Then the writer still
  // uses the channel: the caller must leave it (and its descriptors) alive for good.
  bool detach(SinkChannel* channel);

 private:
  Options options_;
  std::string backend_;
  std::vector<std::unique_ptr<WriterThread>> threads_;
  std::atomic<size_t> next_thread_{0};
  std::mutex budget_mu_;
  std::atomic<size_t> reserved_{0};
  // On the heap: a pool that gave up a sink leaves it to the threads it does not join.
  std::unique_ptr<FreeSpaceFloor> floor_;
  std::atomic<bool> abandoned_{false};  // a detach timed out: threads may be stuck in the disk
};

}  // namespace recorder::sink
