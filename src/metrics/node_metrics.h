// NodeMetrics: recorderd's Prometheus metrics, read from the daemon's state at every scrape (a
// prometheus::Collectable), so they cost nothing between scrapes: no per-packet updates, no
// sampling thread. A recording's series are there while the manager knows the recording (running
// or finished) and are gone once it is deleted, by request or by retention.
//
//   recorder_recordings{state}                                   gauge
//   recorder_recording_captured_packets_total{id,name}           counter
//   recorder_recording_captured_bytes_total{id,name}             counter
//   recorder_recording_lost_packets_total{id,name,reason}        counter (kernel, queue, write)
//   recorder_recording_lost_bytes_total{id,name,reason}          counter
//   recorder_recording_queue_used_bytes{id,name}                 gauge (running recordings)
//   recorder_recording_queue_capacity_bytes{id,name}             gauge
//   recorder_written_bytes_total                                 counter
//   recorder_storage_free_bytes                                  gauge
//   recorder_interface_packets_total{interface,direction}        counter  } with a datapath
//   recorder_interface_bytes_total{interface,direction}          counter  }
//   recorder_interface_matched_packets_total{interface,direction} counter }
//   recorder_interface_matched_bytes_total{interface,direction}  counter  }
//   recorder_unclassified_packets_total{interface,direction}     counter  }
//   recorder_unclassified_bytes_total{interface,direction}       counter  }
//   recorder_kernel_buffer_lost_samples_total                    counter  }
//   recorder_malformed_samples_total                             counter  }
//
// Ownership: holds a reference to the manager, which must outlive the MetricsServer serving this.
#pragma once

#include <prometheus/collectable.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "service/recording_manager.h"

namespace recorder::metrics {

// What the capture path counts, as the daemon reads it from the datapath when scraped.
struct CaptureCounters {
  struct Interface {
    std::string interface;
    std::string direction;  // "ingress" or "egress"
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };
  // The interfaces' own counters (received: ingress, transmitted: egress) of the interfaces the
  // recorder is attached to: the traffic its hooks see.
  std::vector<Interface> seen;
  // Packets that matched a recording's filter in the kernel and reached the daemon.
  std::vector<Interface> matched;
  // Packets the BPF program could not classify (a header truncated, malformed or beyond the
  // parse limits), since the datapath opened.
  std::vector<Interface> unclassified;
  uint64_t lost_samples = 0;       // the kernel buffer reported these lost (not attributable)
  uint64_t malformed_samples = 0;  // samples too short for their header: dropped
};

class NodeMetrics final : public prometheus::Collectable {
 public:
  // `capture` is empty when there is no datapath (--replay).
  NodeMetrics(service::RecordingManager& manager, std::function<CaptureCounters()> capture);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  service::RecordingManager& manager_;
  const std::function<CaptureCounters()> capture_;
};

}  // namespace recorder::metrics
