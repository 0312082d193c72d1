// RecordingsService: detached recordings (recorder.Recordings) on top of a RecordingBackend (the
// RecordingManager, or the relay's ClusterRecordings):
// start, get, list, stop (idempotent), watch, download (resumable) and delete. Files are
// addressed only by recording id; the manager confines every file access to the storage path.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>

#include "recorder.grpc.pb.h"
#include "service/limits.h"
#include "service/recording_backend.h"

namespace recorder::service {

// Fills in the datapath's CaptureHealth (src/daemon wires it to Datapath::health()).
using CaptureHealthFn = std::function<void(pb::CaptureHealth*)>;

class RecordingsService final : public pb::Recordings::Service {
 public:
  RecordingsService(RecordingBackend& manager, ServiceLimits limits,
                    CaptureHealthFn capture_health = {});

  grpc::Status Start(grpc::ServerContext* context, const pb::StartRequest* request,
                     pb::StartResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const pb::GetRequest* request,
                   pb::RecordingInfo* response) override;
  grpc::Status List(grpc::ServerContext* context, const pb::ListRequest* request,
                    pb::ListResponse* response) override;
  grpc::Status Stop(grpc::ServerContext* context, const pb::StopRequest* request,
                    pb::RecordingInfo* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const pb::WatchRequest* request,
                     grpc::ServerWriter<pb::RecordingInfo>* writer) override;
  grpc::Status Download(grpc::ServerContext* context, const pb::DownloadRequest* request,
                        grpc::ServerWriter<pb::DownloadChunk>* writer) override;
  grpc::Status Delete(grpc::ServerContext* context, const pb::DeleteRequest* request,
                      pb::DeleteResponse* response) override;

 private:
  RecordingBackend& manager_;
  const ServiceLimits limits_;
  const CaptureHealthFn capture_health_;
};

}  // namespace recorder::service
