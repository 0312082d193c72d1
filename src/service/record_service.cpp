#include "service/record_service.h"

#include <spdlog/spdlog.h>

#include <pthread.h>

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

// One Record call. The queue's thread hands it its completed operations (on_event), the ticker
// calls tick(); both under the stream's mutex. At most one read, one write and the finish are
// outstanding; once the call is done (gRPC's done notification: finished or cancelled) and none
// is outstanding, the stream is deleted.
class RecordService::Stream {
 public:
  enum class Op { kAccept, kRead, kWrite, kFinish, kDone };

  explicit Stream(RecordService& service) : service_(service), io_(&context_) {
    for (Op op : {Op::kAccept, Op::kRead, Op::kWrite, Op::kFinish, Op::kDone}) {
      tags_[static_cast<int>(op)] = Tag{this, op};
    }
  }

  // Asks gRPC for the next Record call; kAccept completes when one arrives (ok) or the server
  // shuts down (not ok).
  void request() {
    context_.AsyncNotifyWhenDone(tag(Op::kDone));
    service_.async_.RequestRecord(&context_, &io_, service_.cq_.get(), service_.cq_.get(),
                                  tag(Op::kAccept));
  }

  // A tag from the queue: the stream and which of its operations completed.
  struct Tag {
    Stream* stream;
    Op op;
  };

  // Handles a completed operation (not kAccept); true when the stream is done and may be deleted.
  bool on_event(Op op, bool ok) {
    std::lock_guard lock(mutex_);
    switch (op) {
      case Op::kAccept:
        break;
      case Op::kRead:
        reading_ = false;
        on_read_done_locked(ok);
        break;
      case Op::kWrite:
        writing_ = false;
        on_write_done_locked(ok);
        break;
      case Op::kFinish:
        finishing_ = false;
        break;
      case Op::kDone:
        done_ = true;
        // The client cancelled, or went away: the recording stops, its file is kept.
        if (context_.IsCancelled()) request_stop_locked(StopReason::kClientGone);
        break;
    }
    return done_ && !reading_ && !writing_ && !finishing_;
  }

  // The call arrived: read the client's first message.
  void begin() {
    std::lock_guard lock(mutex_);
    start_read_locked();
  }

  // Called by the ticker under the service mutex, every kTick while streams are open.
  void tick(bool shutting_down) {
    std::lock_guard lock(mutex_);
    if (done_ || finished_ || finish_after_writes_) return;
    if (id_ == 0) {
      if (shutting_down) {
        finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the daemon is shutting down"));
      }
      return;
    }
    auto info = service_.manager_.get(id_);
    if (!info) {
      pending_.clear();
      finish_after_writes_locked(grpc::Status(grpc::StatusCode::NOT_FOUND, info.error().message()));
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
      pending_push_locked(std::move(response));
      finish_after_writes_locked(end_status_override_.ok()
                                     ? record_end_status(info->stop_reason, info->stop_message)
                                     : end_status_override_);
      return;
    }
    if (!same(info->stats, last_sent_) && now - last_sent_at_ >= kStatsInterval) {
      push_running_locked(info->stats);
    }
  }

 private:
  void* tag(Op op) { return &tags_[static_cast<int>(op)]; }

  void start_read_locked() {
    if (done_ || finished_) return;
    reading_ = true;
    io_.Read(&request_, tag(Op::kRead));
  }

  void on_read_done_locked(bool ok) {
    if (finished_ || done_) return;
    if (!ok) {
      // Half-close or cancellation: the client will not send `stop` any more.
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
    start_read_locked();
  }

  void on_write_done_locked(bool ok) {
    if (!ok) {
      // The client is gone; the done notification follows.
      request_stop_locked(StopReason::kClientGone);
      pending_.clear();
    }
    write_next_locked();
  }

  pb::RecordResponse make_response() const {
    pb::RecordResponse response;
    response.set_node_name(service_.manager_.node_name());
    to_proto(std::chrono::system_clock::now(), response.mutable_time());
    return response;
  }

  void handle_start_locked() {
    if (!request_.has_start()) {
      finish_locked(refuse("Record", context_.peer(),
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
      finish_locked(refuse("Record", context_.peer(), spec.error()));
      return;
    }
    auto info = service_.manager_.start(*spec);
    if (!info) {
      finish_locked(refuse("Record", context_.peer(), info.error()));
      return;
    }
    id_ = info->id;
    log_notes(*spec, id_, context_.peer());
    spdlog::info("recording {} belongs to Record stream from {}", id_, context_.peer());
    push_running_locked(RecordingStats{});
  }

  void push_running_locked(const RecordingStats& stats) {
    pb::RecordResponse response = make_response();
    auto* running = response.mutable_running();
    to_proto(stats, running->mutable_stats());
    running->set_recording_id(id_);
    last_sent_ = stats;
    last_sent_at_ = std::chrono::steady_clock::now();
    pending_push_locked(std::move(response));
    write_next_locked();
  }

  void pending_push_locked(pb::RecordResponse response) {
    // A client that stops reading must not make this queue grow (about 0.5 KB/s per stream once
    // gRPC's flow-control window is full): a newer `running` replaces one still pending, since
    // it says everything the older one did. So at most a `running` and the `stopped` wait.
    if (response.has_running() && !pending_.empty() && pending_.back().has_running()) {
      pending_.back() = std::move(response);
    } else {
      pending_.push_back(std::move(response));
    }
  }

  // The stream ends with `status` once the queued responses are written (or cannot be).
  void finish_after_writes_locked(grpc::Status status) {
    final_status_ = std::move(status);
    finish_after_writes_ = true;
    write_next_locked();
  }

  void write_next_locked() {
    if (writing_ || finished_ || done_) return;
    if (pending_.empty()) {
      if (finish_after_writes_) finish_locked(final_status_);
      return;
    }
    current_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    io_.Write(current_, tag(Op::kWrite));
  }

  void request_stop_locked(StopReason reason) {
    if (id_ == 0 || stop_requested_) return;
    stop_requested_ = true;
    service_.manager_.request_stop(id_, reason);
  }

  // Never while a write is outstanding (finish_after_writes_locked waits for it).
  void finish_locked(grpc::Status status) {
    if (finished_ || done_) return;
    finished_ = true;
    finishing_ = true;
    io_.Finish(status, tag(Op::kFinish));
  }

  RecordService& service_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<pb::RecordResponse, pb::RecordRequest> io_;
  Tag tags_[5];
  std::mutex mutex_;
  pb::RecordRequest request_;
  pb::RecordResponse current_;
  std::deque<pb::RecordResponse> pending_;
  uint64_t id_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool finishing_ = false;
  bool stop_requested_ = false;
  bool finish_after_writes_ = false;
  bool finished_ = false;
  bool done_ = false;  // gRPC's done notification arrived: no new operation starts
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
  stop();
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  wake_.notify();
  ticker_.join();
}

void RecordService::register_with(grpc::ServerBuilder& builder) {
  builder.RegisterService(&async_);
  cq_ = builder.AddCompletionQueue();
}

void RecordService::start() {
  accept_next();
  server_thread_ = std::thread([this] { serve_loop(); });
}

void RecordService::accept_next() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    accepting_ = true;
  }
  (new Stream(*this))->request();
}

void RecordService::accepted(Stream* stream, bool ok) {
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    if (ok) streams_.insert(stream);
    streams_done_.notify_all();
  }
  if (!ok) {  // the server shuts down: no call came, and none will
    delete stream;
    return;
  }
  wake_.notify();  // the ticker sleeps without a deadline while no stream is open
  accept_next();
  stream->begin();
}

void RecordService::serve_loop() {
  pthread_setname_np(pthread_self(), "record-cq");
  void* tag = nullptr;
  bool ok = false;
  // No deadline: this thread wakes only for a completed operation.
  while (cq_->Next(&tag, &ok)) {
    auto* event = static_cast<Stream::Tag*>(tag);
    if (event->op == Stream::Op::kAccept) {
      accepted(event->stream, ok);
    } else if (event->stream->on_event(event->op, ok)) {
      remove(event->stream);
    }
  }
}

void RecordService::remove(Stream* stream) {
  {
    std::lock_guard lock(mutex_);  // the ticker is not in the middle of its tick
    streams_.erase(stream);
    if (streams_.empty()) streams_done_.notify_all();
  }
  delete stream;
}

void RecordService::stop() {
  if (!cq_) return;  // never registered, or stopped already
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    // grpc::Server::Shutdown has cancelled every call and the pending request; each stream
    // goes once its operations complete. No operation may start once the queue shuts down.
    if (server_thread_.joinable()) {
      streams_done_.wait(lock, [&] { return streams_.empty() && !accepting_; });
    }
  }
  cq_->Shutdown();
  if (server_thread_.joinable()) {
    server_thread_.join();
  } else {  // never started: drain what the queue may hold
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) {
    }
  }
  cq_.reset();
}

void RecordService::shutdown(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  shutting_down_ = true;
  wake_.notify();
  // The ticker ends each stream (`stopped`, then the status) within a tick or two.
  if (!streams_done_.wait_for(lock, timeout, [&] { return streams_.empty(); })) {
    spdlog::warn("{} Record stream(s) still open after {} ms; the server shutdown cancels them",
                 streams_.size(), timeout.count());
  }
}

void RecordService::tick_loop() {
  std::unique_lock lock(mutex_);
  while (!quit_) {
    // Streams move forward every kTick, and only while one is open; a new stream or the
    // shutdown wakes the ticker at once.
    const auto deadline =
        streams_.empty() ? std::nullopt : std::optional(std::chrono::steady_clock::now() + kTick);
    lock.unlock();
    wake_.wait(deadline);
    lock.lock();
    if (quit_) break;
    for (Stream* stream : streams_) stream->tick(shutting_down_);
  }
}

}  // namespace recorder::service
