// RelayRingsService: the flight recorder's gRPC service (recorder.Rings) on a recorder-relay, so
// `recorderctl --server <relay> snapshot|ring list|ring status` work as against a daemon, for the
// whole cluster:
//  - Snapshot: the ring of that name on every node, for one time range (`last` becomes from/to
//    by the relay's clock), merged into one finished relay recording (ClusterRecordings::
//    snapshot): Recordings.Get/Watch/Download/Delete on the relay serve it.
//  - List and Get: each node's rings (Rings.List on every node at once), one RingInfo per ring
//    name summed over the nodes, with the nodes' own RingInfo in `nodes`.
//  - Start, Stop and Delete: UNIMPLEMENTED. Rings are declared per node (recorderd --ring or its
//    config file, restarted with it); a cluster-wide start would leave rings on some nodes and
//    not others whenever one fails, and nothing would keep them declared.
#pragma once

#include <grpcpp/grpcpp.h>

#include "recorder.grpc.pb.h"
#include "relay/cluster_recordings.h"
#include "relay/peers.h"
#include "service/limits.h"

namespace recorder::relay {

class RelayRingsService final : public pb::Rings::Service {
 public:
  RelayRingsService(ClusterRecordings& recordings, PeerSet& peers, service::ServiceLimits limits,
                    std::chrono::milliseconds call_deadline)
      : recordings_(recordings), peers_(peers), limits_(limits), call_deadline_(call_deadline) {}

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
  ClusterRecordings& recordings_;
  PeerSet& peers_;
  const service::ServiceLimits limits_;
  const std::chrono::milliseconds call_deadline_;
};

}  // namespace recorder::relay
