// RingHost: what a ring needs from the recording side (the RecordingManager implements it): the
// same routing, kernel rules and writer pool as recordings. A ring's capture is a Recording
// whose sink rotates chunk files (rotating_sink.h); the host routes packets to it and attributes
// kernel losses to it like to any recording: when stats are read (absorb_kernel_losses()) and
// at the detach, not on a timer.
#pragma once

#include <cstdint>
#include <memory>

#include "common/result.h"
#include "dispatch/recording.h"
#include "sink/sink.h"

namespace recorder::ring {

class RingHost {
 public:
  virtual ~RingHost() = default;
  // A recording id no recording uses (rings and recordings share the routing table).
  virtual uint64_t allocate_id() = 0;
  // Routes packets to `recording` (RESOURCE_EXHAUSTED without free rule slots).
  virtual Status attach(std::shared_ptr<Recording> recording) = 0;
  // Stops routing to it; when this returns no packet reaches it any more, and its kernel losses
  // are attributed to it.
  virtual void detach(uint64_t recording_id) = 0;
  // Attributes the kernel losses reported up to now to the recordings (call before reading a
  // ring's stats).
  virtual void absorb_kernel_losses() = 0;
  virtual sink::WriterPool& writers() = 0;
};

}  // namespace recorder::ring
