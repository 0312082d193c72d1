// SourceThread: runs a PacketSource (the real Datapath) on its own thread until stop(), also
// when the test fails (the destructor stops it).
#pragma once

#include <atomic>
#include <thread>

#include "common/result.h"
#include "dispatch/source.h"

namespace recorder::testing {

class SourceThread {
 public:
  SourceThread(PacketSource& source, PacketConsumer& consumer) : source_(source) {
    thread_ = std::thread([&] { status_ = source.run(consumer, stop_); });
  }
  ~SourceThread() { (void)stop(); }
  SourceThread(const SourceThread&) = delete;
  SourceThread& operator=(const SourceThread&) = delete;
  Status stop() {
    if (thread_.joinable()) {
      stop_ = true;
      source_.wake();
      thread_.join();
    }
    return status_;
  }

 private:
  PacketSource& source_;
  std::atomic<bool> stop_{false};
  Status status_;
  std::thread thread_;
};

}  // namespace recorder::testing
