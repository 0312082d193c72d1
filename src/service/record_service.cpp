#include "service/record_service.h"

#include <spdlog/spdlog.h>

#include <deque>

#include "service/convert.h"
#include "service/validation.h"

namespace recorder::service {
namespace {
constexpr auto kTick = std::chrono::milliseconds(50);
constexpr auto kStatsInterval = std::chrono::milliseconds(250);  // at most ~4 updates/s

bool same(const RecordingStats& a, const RecordingStats& b) {
  return a.packets_captured == b.packets_captured && a.bytes_captured == b.bytes_captured &&
         a.packets_lost() == b.packets_lost() && a.bytes_lost() == b.bytes_lost();
}
}  // namespace

grpc::Status record_end_status(StopReason reason, const std::string& message) {
  switch (reason) {
    case StopReason::kDiskFull:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "recording stopped: disk full" + (message.empty() ? "" : ": " + message));
    case StopReason::kWriteError:
      return grpc::Status(grpc::StatusCode::INTERNAL, "recording stopped: write error" +
                                                          (message.empty() ? "" : ": " + message));
    default:
      return grpc::Status::OK;
  }
}

class RecordService::Reactor final
    : public grpc::ServerBidiReactor<pb::RecordRequest, pb::RecordResponse> {
 public:
  Reactor(RecordService& service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    if (!ok) {
      // Half-close or cancellation: the client will not send `stop` any more.
      read_closed_ = true;
      if (id_ == 0) {
        finish_locked(grpc::Status(grpc::StatusCode::CANCELLED,
                                   "the client closed the stream before sending start"));
      } else {
        request_stop_locked(StopReason::kClientGone);
      }
      return;
    }
    if (id_ == 0) {
      handle_start_locked();
    } else if (request_.has_stop()) {
      request_stop_locked(StopReason::kRequested);
    } else if (request_.has_start()) {
      // A second start on a running stream: stop what runs and end with an error after
      // `stopped`, so the client learns both outcomes.
      end_status_override_ = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                          "start sent on a stream whose recording already runs");
      request_stop_locked(StopReason::kRequested);
    }
    if (!finished_) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) {
      // The client is gone; OnCancel follows.
      request_stop_locked(StopReason::kClientGone);
      pending_.clear();
      if (finish_after_writes_) finish_locked(final_status_);
      return;
    }
    write_next_locked();
  }

  void OnCancel() override {
    std::lock_guard lock(mutex_);
    request_stop_locked(StopReason::kClientGone);
  }

  void OnDone() override {
    service_.remove(this);
    delete this;
  }

  // Called by the ticker under the service mutex, every kTick while streams are open.
  void tick(bool shutting_down) {
    std::lock_guard lock(mutex_);
    if (finished_ || finish_after_writes_) return;
    if (id_ == 0) {
      if (shutting_down) {
        finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the daemon is shutting down"));
      }
      return;
    }
    auto info = service_.manager_.get(id_);
    if (!info) {
      finish_locked(grpc::Status(grpc::StatusCode::NOT_FOUND, info.error().message()));
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (info->state == RecordingState::kStopped) {
      pb::RecordResponse response = make_response();
      auto* stopped = response.mutable_stopped();
      to_proto(info->stats, stopped->mutable_stats());
      stopped->mutable_filesink()->set_file_path(info->file_path.string());
      stopped->mutable_filesink()->set_file_size(info->file_size);
      stopped->set_stop_reason(to_proto(info->stop_reason));
      stopped->set_stop_message(info->stop_message);
      stopped->set_recording_id(id_);
      final_status_ = end_status_override_.ok()
                          ? record_end_status(info->stop_reason, info->stop_message)
                          : end_status_override_;
      finish_after_writes_ = true;
      push_locked(std::move(response));
      return;
    }
    if (!same(info->stats, last_sent_) && now - last_sent_at_ >= kStatsInterval) {
      push_running_locked(info->stats);
    }
  }

 private:
  pb::RecordResponse make_response() const {
    pb::RecordResponse response;
    response.set_node_name(service_.manager_.node_name());
    to_proto(std::chrono::system_clock::now(), response.mutable_time());
    return response;
  }

  void handle_start_locked() {
    if (!request_.has_start()) {
      finish_locked(refuse("Record", context_->peer(),
                           request_.has_stop()
                               ? grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                              "the first request must be start, not stop")
                               : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                              "the first request must be start (request_type "
                                              "not set)")));
      return;
    }
    auto spec = validate_start(request_.start(), service_.limits_);
    if (!spec) {
      finish_locked(refuse("Record", context_->peer(), spec.error()));
      return;
    }
    auto info = service_.manager_.start(*spec);
    if (!info) {
      finish_locked(refuse("Record", context_->peer(), info.error()));
      return;
    }
    id_ = info->id;
    log_notes(*spec, id_, context_->peer());
    spdlog::info("recording {} belongs to Record stream from {}", id_, context_->peer());
    push_running_locked(RecordingStats{});
  }

  void push_running_locked(const RecordingStats& stats) {
    pb::RecordResponse response = make_response();
    auto* running = response.mutable_running();
    to_proto(stats, running->mutable_stats());
    running->set_recording_id(id_);
    last_sent_ = stats;
    last_sent_at_ = std::chrono::steady_clock::now();
    push_locked(std::move(response));
  }

  void push_locked(pb::RecordResponse response) {
    // A client that stops reading must not make this queue grow (about 0.5 KB/s per stream once
    // gRPC's flow-control window is full): a newer `running` replaces one still pending, since
    // it says everything the older one did. So at most a `running` and the `stopped` wait.
    if (response.has_running() && !pending_.empty() && pending_.back().has_running()) {
      pending_.back() = std::move(response);
    } else {
      pending_.push_back(std::move(response));
    }
    write_next_locked();
  }

  void write_next_locked() {
    if (writing_ || finished_) return;
    if (pending_.empty()) {
      if (finish_after_writes_) finish_locked(final_status_);
      return;
    }
    current_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  void request_stop_locked(StopReason reason) {
    if (id_ == 0 || stop_requested_) return;
    stop_requested_ = true;
    service_.manager_.request_stop(id_, reason);
  }

  void finish_locked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  RecordService& service_;
  grpc::CallbackServerContext* context_;
  std::mutex mutex_;
  pb::RecordRequest request_;
  pb::RecordResponse current_;
  std::deque<pb::RecordResponse> pending_;
  uint64_t id_ = 0;
  bool writing_ = false;
  bool read_closed_ = false;
  bool stop_requested_ = false;
  bool finish_after_writes_ = false;
  bool finished_ = false;
  grpc::Status final_status_;
  grpc::Status end_status_override_;
  RecordingStats last_sent_;
  std::chrono::steady_clock::time_point last_sent_at_{};
};

Result<std::unique_ptr<RecordService>> RecordService::create(RecordingBackend& manager,
                                                             ServiceLimits limits) {
  auto wake = Wakeup::create();
  if (!wake) return wake.error().wrap("create the Record service's wakeup");
  return std::unique_ptr<RecordService>(new RecordService(manager, limits, std::move(*wake)));
}

RecordService::RecordService(RecordingBackend& manager, ServiceLimits limits, Wakeup wake)
    : manager_(manager), limits_(limits), wake_(std::move(wake)) {
  ticker_ = std::thread([this] { tick_loop(); });
}

RecordService::~RecordService() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  wake_.notify();
  ticker_.join();
}

grpc::ServerBidiReactor<pb::RecordRequest, pb::RecordResponse>* RecordService::Record(
    grpc::CallbackServerContext* context) {
  auto* reactor = new Reactor(*this, context);
  {
    std::lock_guard lock(mutex_);
    reactors_.insert(reactor);
  }
  wake_.notify();  // the ticker sleeps without a deadline while no stream is open
  return reactor;
}

void RecordService::remove(Reactor* reactor) {
  std::lock_guard lock(mutex_);
  reactors_.erase(reactor);
  if (reactors_.empty()) streams_done_.notify_all();
}

void RecordService::shutdown(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  shutting_down_ = true;
  wake_.notify();
  // The ticker ends each stream (`stopped`, then the status) within a tick or two.
  if (!streams_done_.wait_for(lock, timeout, [&] { return reactors_.empty(); })) {
    spdlog::warn("{} Record stream(s) still open after {} ms; the server shutdown cancels them",
                 reactors_.size(), timeout.count());
  }
}

void RecordService::tick_loop() {
  std::unique_lock lock(mutex_);
  while (!quit_) {
    // Streams move forward every kTick, and only while one is open; a new stream or the
    // shutdown wakes the ticker at once.
    const auto deadline =
        reactors_.empty() ? std::nullopt : std::optional(std::chrono::steady_clock::now() + kTick);
    lock.unlock();
    wake_.wait(deadline);
    lock.lock();
    if (quit_) break;
    for (Reactor* reactor : reactors_) reactor->tick(shutting_down_);
  }
}

}  // namespace recorder::service
