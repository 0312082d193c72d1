#include "relay/rings_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <thread>

#include "common/wall_clock.h"
#include "service/convert.h"
#include "service/ring_validation.h"

namespace recorder::relay {
namespace {

// One node's answer to Rings.List.
struct NodeRings {
  std::string address;
  std::string error;  // empty: `rings` is its answer
  std::vector<pb::RingInfo> rings;
};

std::vector<NodeRings> list_on_nodes(const std::vector<Peer>& peers,
                                     std::chrono::milliseconds deadline) {
  std::vector<NodeRings> out(peers.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < peers.size(); ++i) {
    threads.emplace_back([&, i] {
      out[i].address = peers[i].address;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + deadline);
      pb::ListRingsResponse response;
      const grpc::Status status =
          pb::Rings::NewStub(peers[i].channel)->List(&context, pb::ListRingsRequest(), &response);
      peers[i].calls->record(status.ok());
      if (!status.ok()) {
        out[i].error = describe("list rings", status);
        return;
      }
      out[i].rings.assign(response.rings().begin(), response.rings().end());
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// The ring `name` across the nodes: sums, the span, and the nodes' own RingInfo (an entry with
// the reason for a node that does not have it). False when no node has it.
bool aggregate(const std::string& name, const std::vector<NodeRings>& nodes,
               const std::string& relay_name, pb::RingInfo* out) {
  RecordingStats stats;
  std::string problems;
  bool found = false;
  uint64_t oldest = UINT64_MAX, newest = 0;
  for (const auto& node : nodes) {
    const pb::RingInfo* ring = nullptr;
    for (const auto& r : node.rings) {
      if (r.config().name() == name) ring = &r;
    }
    pb::RingInfo* entry = out->add_nodes();
    if (ring == nullptr) {
      entry->set_node_name(node.address);
      entry->set_message(node.error.empty() ? fmt::format("no ring named {}", name) : node.error);
      problems +=
          fmt::format("{}{}: {}", problems.empty() ? "" : "; ", node.address, entry->message());
      continue;
    }
    *entry = *ring;
    if (!found) *out->mutable_config() = ring->config();
    found = true;
    if (ring->state() == pb::RING_STATE_RUNNING) out->set_state(pb::RING_STATE_RUNNING);
    stats += service::from_proto(ring->stats());
    out->set_chunks(out->chunks() + ring->chunks());
    out->set_bytes(out->bytes() + ring->bytes());
    out->set_chunks_deleted(out->chunks_deleted() + ring->chunks_deleted());
    if (ring->has_oldest())
      oldest = std::min(oldest, service::from_proto_timestamp(ring->oldest()));
    if (ring->has_newest())
      newest = std::max(newest, service::from_proto_timestamp(ring->newest()));
    if (!ring->message().empty()) {
      problems +=
          fmt::format("{}{}: {}", problems.empty() ? "" : "; ", ring->node_name(), ring->message());
    }
  }
  if (!found) return false;
  if (out->state() != pb::RING_STATE_RUNNING) out->set_state(pb::RING_STATE_STOPPED);
  service::to_proto(stats, out->mutable_stats());
  if (oldest != UINT64_MAX) {  // some node holds packets
    service::to_proto_timestamp(oldest, out->mutable_oldest());
    service::to_proto_timestamp(newest, out->mutable_newest());
  }
  out->set_message(problems);
  out->set_node_name(relay_name);
  return true;
}

grpc::Status per_node(std::string_view rpc, grpc::ServerContext* context) {
  return service::refuse(
      rpc, context->peer(),
      grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                   fmt::format("{} is not served by recorder-relay: rings are declared on each "
                               "node (recorderd --ring or its config file), so start, stop and "
                               "delete them on the daemons; the relay serves snapshot, list and "
                               "status",
                               rpc)));
}

}  // namespace

grpc::Status RelayRingsService::Start(grpc::ServerContext* context, const pb::StartRingRequest*,
                                      pb::RingInfo*) {
  return per_node("Rings.Start", context);
}

grpc::Status RelayRingsService::Stop(grpc::ServerContext* context, const pb::StopRingRequest*,
                                     pb::RingInfo*) {
  return per_node("Rings.Stop", context);
}

grpc::Status RelayRingsService::Delete(grpc::ServerContext* context, const pb::DeleteRingRequest*,
                                       pb::DeleteRingResponse*) {
  return per_node("Rings.Delete", context);
}

grpc::Status RelayRingsService::Get(grpc::ServerContext* context, const pb::GetRingRequest* request,
                                    pb::RingInfo* response) {
  if (auto s = service::validate_ring_name(request->name(), "name"); !s) {
    return service::refuse("Rings.Get", context->peer(), s.error());
  }
  const auto nodes = list_on_nodes(peers_.current(), call_deadline_);
  if (!aggregate(request->name(), nodes, recordings_.node_name(), response)) {
    std::string why;
    for (const auto& node : response->nodes()) {
      why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", node.node_name(), node.message());
    }
    return service::refuse(
        "Rings.Get", context->peer(),
        Error(ErrorCode::kNotFound, fmt::format("no node has a ring named {}{}{}", request->name(),
                                                why.empty() ? " (no peers)" : ": ", why)));
  }
  return grpc::Status::OK;
}

grpc::Status RelayRingsService::List(grpc::ServerContext*, const pb::ListRingsRequest*,
                                     pb::ListRingsResponse* response) {
  const auto nodes = list_on_nodes(peers_.current(), call_deadline_);
  std::map<std::string, bool> names;
  for (const auto& node : nodes) {
    for (const auto& ring : node.rings) names[ring.config().name()] = true;
  }
  for (const auto& [name, _] : names) {
    aggregate(name, nodes, recordings_.node_name(), response->add_rings());
  }
  return grpc::Status::OK;
}

grpc::Status RelayRingsService::Snapshot(grpc::ServerContext* context,
                                         const pb::SnapshotRequest* request,
                                         pb::SnapshotResponse* response) {
  std::vector<std::string> notes;
  auto query = service::validate_snapshot(*request, limits_, wall_clock_ns(), notes);
  if (!query) return service::refuse("Rings.Snapshot", context->peer(), query.error());
  // `last` is up to now by the relay's clock, for every node alike.
  if (request->has_last()) query->to_ns = wall_clock_ns();
  auto snapshot = recordings_.snapshot(*query);
  if (!snapshot) return service::refuse("Rings.Snapshot", context->peer(), snapshot.error());
  spdlog::info("snapshot of ring {} on {} node(s) into recording {}: {} packets, {} chunks read",
               query->name, snapshot->info.nodes.size(), snapshot->info.id,
               snapshot->info.stats.packets_captured, snapshot->cost.chunks_read);
  service::to_proto(snapshot->info, response->mutable_recording());
  response->set_chunks_read(snapshot->cost.chunks_read);
  response->set_packets_examined(snapshot->cost.packets_examined);
  return grpc::Status::OK;
}

}  // namespace recorder::relay
