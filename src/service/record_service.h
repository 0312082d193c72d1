// RecordService: Hubble's recorder.Recorder/Record stream on top of a RecordingBackend (recorderd's
// RecordingManager, or the recorder-relay's ClusterRecordings).
//
// Semantics (kept from Hubble): the first request must be `start` (else the stream ends with
// FAILED_PRECONDITION, or INVALID_ARGUMENT for an empty request); a `running` response with zero
// counts follows at once; statistics are pushed when they change, at most about four times per
// second (a client that stops reading gets only the latest once it reads again: at most one
// `running` waits per stream); when a stop condition hits or the client sends `stop`, the queue
// is drained and the file closed, a `stopped` response carries the final statistics and the
// absolute file path, and the stream ends OK (RESOURCE_EXHAUSTED after a disk-full stop, INTERNAL
// after another write error: the stopped message is sent first in both cases). If the client goes
// away (cancelled, or half-closed without `stop`), the recording stops with reason "client gone"
// and its file is kept.
//
// Implemented with gRPC's async API on a completion queue of its own, so that the stream can end
// (OK after `stopped`) while a read of the client's next message is pending, and no stream holds
// a thread. Not the callback API: one callback-API service on a server makes gRPC 1.51 start the
// callback completion queue's two polling threads, which wake a few times a second when nothing
// happens (docs/architecture.md, "What wakes the daemon"). Not the sync API either: its handler
// cannot end the call while another thread waits in a Read, except by cancelling it.
//
// Two threads: the queue's thread handles every stream's completed reads and writes (it sleeps
// in the queue with no deadline); the ticker moves all open streams forward (statistics,
// `stopped`), every 50 ms while a stream is open; with none open it sleeps until one opens. Each
// stream owns only its response queue.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "recorder.grpc.pb.h"
#include "service/limits.h"
#include "service/recording_backend.h"

namespace recorder::service {

// The gRPC status a Record stream ends with after its recording stopped for `reason`.
grpc::Status record_end_status(StopReason reason, const std::string& message);

class RecordService final {
 public:
  static Result<std::unique_ptr<RecordService>> create(RecordingBackend& manager,
                                                       ServiceLimits limits);
  ~RecordService();

  // Registers the service and its completion queue; before builder.BuildAndStart().
  void register_with(grpc::ServerBuilder& builder);
  // Accepts streams from now on; once the server built by that builder runs.
  void start();

  // Ends streams that have not started a recording (UNAVAILABLE); streams with a recording end
  // once the manager stopped it. Returns when every stream is done (its final status handed to
  // gRPC) or `timeout` passed. Call after the manager's shutdown, before grpc::Server::Shutdown.
  void shutdown(std::chrono::milliseconds timeout);
  // After grpc::Server::Shutdown (which cancels what is left): waits until every stream is gone,
  // then shuts the completion queue down and joins its thread.
  void stop();

  RecordingBackend& manager() { return manager_; }
  const ServiceLimits& limits() const { return limits_; }

 private:
  class Stream;
  friend class Stream;
  RecordService(RecordingBackend& manager, ServiceLimits limits, Wakeup wake);
  void tick_loop();
  void serve_loop();
  void accept_next();
  void accepted(Stream* stream, bool ok);
  void remove(Stream* stream);

  RecordingBackend& manager_;
  const ServiceLimits limits_;
  pb::Recorder::AsyncService async_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::mutex mutex_;
  Wakeup wake_;                           // the ticker sleeps on it
  std::condition_variable streams_done_;  // streams_ became empty, or the accepting ended
  std::set<Stream*> streams_;             // accepted and not yet done
  bool accepting_ = false;                // a stream waits for its call
  bool stopping_ = false;                 // stop(): accept no more
  bool quit_ = false;
  bool shutting_down_ = false;
  std::thread ticker_;
  std::thread server_thread_;  // runs serve_loop() on cq_
};

}  // namespace recorder::service
