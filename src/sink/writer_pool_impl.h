// WriterPoolImpl: the writer threads behind WriterPool (sink.h), and the queue memory budget.
//
// Each thread owns one IoBackend (io_uring, or pwrite as the fallback) and serves many sinks:
// it pops each sink's queue into that sink's aligned buffers, writes full buffers with O_DIRECT
// (several in flight), and makes data that waited kFlushAfter visible even when a buffer is not
// full. Idle threads sleep with an adaptive timeout (kMinSleep..kMaxSleep), so the producer
// never makes a syscall to wake them. Sinks register at open and are handed back at close.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sink/io_backend.h"
#include "sink/sink.h"
#include "sink/sink_channel.h"

namespace recorder::sink {

class WriterThread;

class WriterPoolImpl final : public WriterPool {
 public:
  static constexpr std::chrono::milliseconds kFlushAfter{100};
  static constexpr std::chrono::milliseconds kIdleWait{100};
  static constexpr std::chrono::microseconds kDiskWait{1000};
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
  // Asks the writer to drain the sink completely and let go of it; returns once it has.
  void detach(SinkChannel* channel);

 private:
  Options options_;
  std::string backend_;
  std::vector<std::unique_ptr<WriterThread>> threads_;
  std::atomic<size_t> next_thread_{0};
  std::mutex budget_mu_;
  std::atomic<size_t> reserved_{0};
};

}  // namespace recorder::sink
