// RingsService: the flight recorder's gRPC service (recorder.Rings) on top of the RingManager:
// start, get, list, stop and delete rings, and snapshots, which the RecordingManager turns into
// finished recordings (record_from), so Recordings.Get/Watch/Download/Delete serve them.
#pragma once

#include <grpcpp/grpcpp.h>

#include "recorder.grpc.pb.h"
#include "ring/ring_manager.h"
#include "service/limits.h"
#include "service/recording_manager.h"

namespace recorder::service {

class RingsService final : public pb::Rings::Service {
 public:
  RingsService(ring::RingManager& rings, RecordingManager& recordings, ServiceLimits limits);

  grpc::Status Start(grpc::ServerContext* context, const pb::StartRingRequest* request,
                     pb::RingInfo* response) override;
  grpc::Status Get(grpc::ServerContext* context, const pb::GetRingRequest* request,
                   pb::RingInfo* response) override;
  grpc::Status List(grpc::ServerContext* context, const pb::ListRingsRequest* request,
                    pb::ListRingsResponse* response) override;
  grpc::Status Stop(grpc::ServerContext* context, const pb::StopRingRequest* request,
                    pb::RingInfo* response) override;
  grpc::Status Delete(grpc::ServerContext* context, const pb::DeleteRingRequest* request,
                      pb::DeleteRingResponse* response) override;
  grpc::Status Snapshot(grpc::ServerContext* context, const pb::SnapshotRequest* request,
                        pb::SnapshotResponse* response) override;

 private:
  ring::RingManager& rings_;
  RecordingManager& recordings_;
  const ServiceLimits limits_;
};

}  // namespace recorder::service
