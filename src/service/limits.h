// ServiceLimits: the daemon-wide limits the RecordingManager enforces on every start, and the
// defaults recorderd uses when no flag or config key sets them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace recorder::service {

struct ServiceLimits {
  size_t max_recordings = 64;                    // concurrently running recordings
  size_t max_filters = 16;                       // include filters per recording
  uint32_t max_snap_length = 262144;             // bytes per packet; also the "whole packet" value
  size_t queue_memory = 1u << 30;                // all sinks' queues together (WriterPool bound)
  size_t queue_bytes_per_recording = 16u << 20;  // one sink's queue
  uint64_t min_free_disk = 64u << 20;  // bytes the writers keep free on the storage filesystem
};

}  // namespace recorder::service
