#include "relay/relay_metrics.h"

#include "metrics/family.h"

namespace recorder::relay {

using metrics::add_sample;
using metrics::counter_family;
using metrics::gauge_family;
using service::RecordingState;

std::vector<prometheus::MetricFamily> RelayMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;

  auto peer_count = gauge_family("recorder_relay_peers", "Peers (recorderd daemons) known now");
  auto up = gauge_family("recorder_relay_peer_up",
                         "1 when the relay's connection to the peer is up, 0 otherwise");
  auto calls = counter_family("recorder_relay_peer_calls_total", "Calls the relay made to a peer");
  auto failed = counter_family("recorder_relay_peer_failed_calls_total",
                               "Calls the relay made to a peer that failed");
  const std::vector<Peer> peers = peers_.current();
  add_sample(peer_count, static_cast<double>(peers.size()));
  for (const Peer& peer : peers) {
    // Asking for the state with try_to_connect: an idle channel starts connecting, so a scrape
    // also probes peers no recording has called lately.
    const grpc_connectivity_state state = peer.channel->GetState(/*try_to_connect=*/true);
    const bool is_up =
        state == GRPC_CHANNEL_READY || (state == GRPC_CHANNEL_IDLE && peer.calls->last_ok.load());
    add_sample(up, is_up ? 1 : 0, {{"peer", peer.address}});
    add_sample(calls, static_cast<double>(peer.calls->total.load()), {{"peer", peer.address}});
    add_sample(failed, static_cast<double>(peer.calls->failed.load()), {{"peer", peer.address}});
  }

  auto states = gauge_family("recorder_recordings", "Recordings this relay knows, by state");
  auto packets = counter_family("recorder_recording_captured_packets_total",
                                "Packets a cluster recording captured, summed over its nodes");
  auto bytes = counter_family("recorder_recording_captured_bytes_total",
                              "Captured bytes of a cluster recording, summed over its nodes");
  auto failed_nodes = gauge_family("recorder_relay_recording_failed_nodes",
                                   "Nodes of a cluster recording whose packets are missing from "
                                   "its result (unreachable, refused, failed to stop or download)");
  uint64_t by_state[3] = {};
  for (const service::RecordingInfo& r : recordings_.list().recordings) {
    ++by_state[static_cast<size_t>(r.state)];
    const std::string id = std::to_string(r.id);
    add_sample(packets, static_cast<double>(r.stats.packets_captured),
               {{"id", id}, {"name", r.file_name}});
    add_sample(bytes, static_cast<double>(r.stats.bytes_captured),
               {{"id", id}, {"name", r.file_name}});
    size_t missing = 0;
    for (const auto& node : r.nodes) missing += node.error.empty() ? 0 : 1;
    add_sample(failed_nodes, static_cast<double>(missing), {{"id", id}, {"name", r.file_name}});
  }
  for (RecordingState state :
       {RecordingState::kRunning, RecordingState::kStopping, RecordingState::kStopped}) {
    add_sample(states, static_cast<double>(by_state[static_cast<size_t>(state)]),
               {{"state", std::string(service::to_string(state))}});
  }
  for (auto* f : {&peer_count, &up, &calls, &failed, &states, &packets, &bytes, &failed_nodes}) {
    out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace recorder::relay
