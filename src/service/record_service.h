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
// Implemented with gRPC's callback API, so the stream can end while no client message is
// pending. One ticker thread moves all open streams forward; each stream is a reactor that owns
// only its response queue. The ticker wakes every 50 ms while a stream is open; with none open
// it sleeps until one opens.
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

class RecordService final : public pb::Recorder::CallbackService {
 public:
  static Result<std::unique_ptr<RecordService>> create(RecordingBackend& manager,
                                                       ServiceLimits limits);
  ~RecordService() override;

  grpc::ServerBidiReactor<pb::RecordRequest, pb::RecordResponse>* Record(
      grpc::CallbackServerContext* context) override;

  // Ends streams that have not started a recording (UNAVAILABLE); streams with a recording end
  // once the manager stopped it. Returns when every stream is done (its final status handed to
  // gRPC) or `timeout` passed. Call after the manager's shutdown, before grpc::Server::Shutdown.
  void shutdown(std::chrono::milliseconds timeout);

  RecordingBackend& manager() { return manager_; }
  const ServiceLimits& limits() const { return limits_; }

 private:
  class Reactor;
  friend class Reactor;
  RecordService(RecordingBackend& manager, ServiceLimits limits, Wakeup wake);
  void tick_loop();
  void remove(Reactor* reactor);

  RecordingBackend& manager_;
  const ServiceLimits limits_;
  std::mutex mutex_;
  Wakeup wake_;                           // the ticker sleeps on it
  std::condition_variable streams_done_;  // reactors_ became empty
  std::set<Reactor*> reactors_;
  bool quit_ = false;
  bool shutting_down_ = false;
  std::thread ticker_;
};

}  // namespace recorder::service
