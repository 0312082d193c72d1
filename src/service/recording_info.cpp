#include "service/recording_info.h"

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

}  // namespace recorder::service
