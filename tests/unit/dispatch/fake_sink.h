// FakeSink: an in-memory sink::Sink for dispatch unit tests. It keeps a copy of every appended
// packet and can be told to report a full queue or a failed write, so Recording and Dispatcher
// accounting can be checked exactly. The real Sink is tested in tests/unit/sink; the end-to-end
// replay test here uses the real one.
#pragma once

#include <cerrno>
#include <memory>
#include <vector>

#include "sink/sink.h"

namespace recorder::test {

struct FakeSinkState {
  struct Appended {
    uint64_t timestamp_ns;
    uint32_t original_length;
    std::vector<uint8_t> data;
  };
  std::vector<Appended> appended;  // copies, unless store_data is false
  bool store_data = true;          // false: only count (long-running tests)
  uint64_t appended_count = 0;
  uint64_t attempts = 0;
  // Attempts with these indexes (0-based) report a full queue.
  std::vector<uint64_t> queue_full_at;
  // From this attempt on, the sink has failed (kFailed); failure_errno is reported.
  uint64_t fail_from = UINT64_MAX;
  int failure_errno = EIO;
  // close(): how many appended packets the "writer" lost to the write error.
  uint64_t lost_on_close = 0;
  uint64_t closed_with_dropped = UINT64_MAX;
  int close_calls = 0;
};

class FakeSink : public sink::Sink {
 public:
  explicit FakeSink(std::shared_ptr<FakeSinkState> state) : state_(std::move(state)) {}

  sink::AppendResult try_append(const CapturedPacket& packet) noexcept override {
    const uint64_t attempt = state_->attempts++;
    if (attempt >= state_->fail_from) return sink::AppendResult::kFailed;
    for (uint64_t i : state_->queue_full_at) {
      if (i == attempt) return sink::AppendResult::kQueueFull;
    }
    ++state_->appended_count;
    if (state_->store_data) {
      state_->appended.push_back(
          {packet.timestamp_ns, packet.original_length, {packet.data.begin(), packet.data.end()}});
    }
    return sink::AppendResult::kAppended;
  }

  sink::RecordPlacement last_placement() const noexcept override { return {}; }  // no file

  bool failed() const noexcept override { return state_->attempts > state_->fail_from; }

  int failure_errno() const noexcept override { return failed() ? state_->failure_errno : 0; }

  sink::SinkProgress progress() const noexcept override { return {}; }  // no queue, no file

  Result<sink::SinkResult> close(uint64_t dropped_packets) override {
    ++state_->close_calls;
    state_->closed_with_dropped = dropped_packets;
    sink::SinkResult result;
    result.path = "/fake";
    const uint64_t lost = std::min<uint64_t>(state_->lost_on_close, state_->appended.size());
    result.packets_written = state_->appended.size() - lost;
    for (size_t i = 0; i < state_->appended.size(); ++i) {
      const uint64_t n = state_->appended[i].data.size();
      if (i < result.packets_written) {
        result.bytes_written += n;
      } else {
        result.bytes_lost_write += n;
      }
    }
    result.packets_lost_write = lost;
    if (failed() || lost != 0) {
      result.write_error = Error::from_errno("write /fake", state_->failure_errno);
    }
    return result;
  }

 private:
  std::shared_ptr<FakeSinkState> state_;
};

}  // namespace recorder::test
