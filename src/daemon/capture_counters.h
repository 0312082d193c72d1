// capture_counters: what the eBPF datapath counts per interface and direction, gathered for a
// metrics scrape (metrics/node_metrics.h): the attached interfaces' own counters, the packets
// that matched and reached the daemon, the kernel's unclassified-packet counters and the buffer
// losses.
#pragma once

#include "datapath/datapath.h"
#include "metrics/node_metrics.h"

namespace recorder::daemon {

metrics::CaptureCounters capture_counters(const datapath::Datapath& datapath);

}  // namespace recorder::daemon
