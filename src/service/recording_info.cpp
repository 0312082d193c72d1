#include "service/recording_info.h"

#include <utility>

#include "service/validation.h"

namespace recorder::service {

std::string_view to_string(RecordingState state) {
  switch (state) {
    case RecordingState::kRunning:
      return "running";
    case RecordingState::kStopping:
      return "stopping";
    case RecordingState::kStopped:
      return "stopped";
  }
  return "unknown";
}

RecordingInfo started_recording(uint64_t id, const StartSpec& spec, std::string node_name) {
  RecordingInfo info;
  info.id = id;
  info.state = RecordingState::kRunning;
  info.filters = spec.recording.include;
  info.snap_length = spec.recording.snap_length;
  info.stop = spec.recording.stop;
  info.format = spec.format;
  info.file_prefix = spec.file_prefix;
  info.node_name = std::move(node_name);
  info.start_time = std::chrono::system_clock::now();
  return info;
}

}  // namespace recorder::service
