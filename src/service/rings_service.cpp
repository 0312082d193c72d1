#include "service/rings_service.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "common/wall_clock.h"
#include "service/convert.h"
#include "service/ring_validation.h"

namespace recorder::service {

RingsService::RingsService(ring::RingManager& rings, RecordingManager& recordings,
                           ServiceLimits limits)
    : rings_(rings), recordings_(recordings), limits_(limits) {}

grpc::Status RingsService::Start(grpc::ServerContext* context, const pb::StartRingRequest* request,
                                 pb::RingInfo* response) {
  std::vector<std::string> notes;
  auto spec = validate_ring(request->ring(), limits_, "ring", notes);
  if (!spec) return refuse("Rings.Start", context->peer(), spec.error());
  auto status = rings_.start(*spec);
  if (!status) return refuse("Rings.Start", context->peer(), status.error());
  for (const auto& note : notes)
    spdlog::info("ring {} (from {}): {}", spec->name, context->peer(), note);
  to_proto(*status, recordings_.node_name(), response);
  return grpc::Status::OK;
}

grpc::Status RingsService::Get(grpc::ServerContext* context, const pb::GetRingRequest* request,
                               pb::RingInfo* response) {
  if (auto s = validate_ring_name(request->name(), "name"); !s) {
    return refuse("Rings.Get", context->peer(), s.error());
  }
  auto status = rings_.get(request->name());
  if (!status) return refuse("Rings.Get", context->peer(), status.error());
  to_proto(*status, recordings_.node_name(), response);
  return grpc::Status::OK;
}

grpc::Status RingsService::List(grpc::ServerContext*, const pb::ListRingsRequest*,
                                pb::ListRingsResponse* response) {
  for (const auto& status : rings_.list()) {
    to_proto(status, recordings_.node_name(), response->add_rings());
  }
  return grpc::Status::OK;
}

grpc::Status RingsService::Stop(grpc::ServerContext* context, const pb::StopRingRequest* request,
                                pb::RingInfo* response) {
  if (auto s = validate_ring_name(request->name(), "name"); !s) {
    return refuse("Rings.Stop", context->peer(), s.error());
  }
  auto status = rings_.stop(request->name());
  if (!status) return refuse("Rings.Stop", context->peer(), status.error());
  to_proto(*status, recordings_.node_name(), response);
  return grpc::Status::OK;
}

grpc::Status RingsService::Delete(grpc::ServerContext* context,
                                  const pb::DeleteRingRequest* request, pb::DeleteRingResponse*) {
  if (auto s = validate_ring_name(request->name(), "name"); !s) {
    return refuse("Rings.Delete", context->peer(), s.error());
  }
  if (auto s = rings_.remove(request->name()); !s) {
    return refuse("Rings.Delete", context->peer(), s.error());
  }
  return grpc::Status::OK;
}

grpc::Status RingsService::Snapshot(grpc::ServerContext* context,
                                    const pb::SnapshotRequest* request,
                                    pb::SnapshotResponse* response) {
  std::vector<std::string> notes;
  auto query = validate_snapshot(*request, limits_, wall_clock_ns(), notes);
  if (!query) return refuse("Rings.Snapshot", context->peer(), query.error());
  auto ring = rings_.get(query->name);
  if (!ring) return refuse("Rings.Snapshot", context->peer(), ring.error());
  // The snapshot is a recording of the ring's format and snap length, named after the ring.
  StartSpec spec;
  spec.recording.include = query->filters.empty() ? ring->spec.include : query->filters;
  spec.recording.snap_length = ring->spec.snap_length;
  spec.file_prefix = ring->spec.name;
  spec.format = ring->spec.format;
  ring::SnapshotCounts counts;
  auto info = recordings_.record_from(spec, [&](const RecordingManager::Append& append) {
    return rings_.snapshot(*query, append, &counts);
  });
  if (!info) return refuse("Rings.Snapshot", context->peer(), info.error());
  spdlog::info(
      "snapshot of ring {} into recording {}: {} packets selected, {} examined in {} "
      "chunks",
      query->name, info->id, counts.packets_selected, counts.packets_examined, counts.chunks);
  to_proto(*info, response->mutable_recording());
  response->set_chunks_read(counts.chunks);
  response->set_packets_examined(counts.packets_examined);
  return grpc::Status::OK;
}

}  // namespace recorder::service
