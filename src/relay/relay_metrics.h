// RelayMetrics: recorder-relay's Prometheus metrics (--metrics-listen), read from the relay's
// state at every scrape (a prometheus::Collectable, served by metrics/metrics_server.h):
//
//   recorder_relay_peers                                    gauge: peers now (static + DNS)
//   recorder_relay_peer_up{peer}                            gauge: 1 when the peer's channel is
//                                                           connected (or idle after a call that
//                                                           worked), 0 otherwise; a scrape also
//                                                           asks an idle channel to connect
//   recorder_relay_peer_calls_total{peer}                   counter: calls the relay made to it
//   recorder_relay_peer_failed_calls_total{peer}            counter: of those, the failed ones
//   recorder_recordings{state}                              gauge: the relay's recordings
//   recorder_recording_captured_packets_total{id,name}      counter: summed over the nodes
//   recorder_recording_captured_bytes_total{id,name}        counter
//   recorder_relay_recording_failed_nodes{id,name}          gauge: nodes missing from the result
//
// Ownership: holds references to the peer set and the recordings, which must outlive the
// MetricsServer serving this.
#pragma once

#include <prometheus/collectable.h>

#include <vector>

#include "relay/cluster_recordings.h"
#include "relay/peers.h"

namespace recorder::relay {

class RelayMetrics final : public prometheus::Collectable {
 public:
  RelayMetrics(const PeerSet& peers, ClusterRecordings& recordings)
      : peers_(peers), recordings_(recordings) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const PeerSet& peers_;
  ClusterRecordings& recordings_;
};

}  // namespace recorder::relay
