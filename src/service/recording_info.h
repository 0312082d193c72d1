// RecordingInfo: what the service knows about one recording, running or finished. The manager
// hands out copies (snapshots); the store persists the final one of a finished recording.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/filter.h"
#include "dispatch/recording.h"
#include "sink/sink.h"

namespace recorder::service {

enum class RecordingState : uint8_t { kRunning, kStopping, kStopped };

std::string_view to_string(RecordingState state);

// One node's part of a cluster-wide recording (recorder-relay; see NodeRecording in the proto).
struct NodeRecording {
  std::string node_name;      // as the node reports it, else its address
  std::string address;        // the peer address
  std::string error;          // why its packets are missing from the merged file; empty: none
  uint64_t recording_id = 0;  // on the node; 0: never started there
  RecordingState state = RecordingState::kRunning;
  StopReason stop_reason = StopReason::kNone;
  RecordingStats stats;
  std::string file_path;  // on the node
  uint64_t file_size = 0;
  uint64_t packets_merged = 0;
};

// A snapshot of one recording, running or finished.
struct RecordingInfo {
  uint64_t id = 0;
  RecordingState state = RecordingState::kRunning;
  StopReason stop_reason = StopReason::kNone;
  std::string stop_message;  // details: the write error, a recovery note
  RecordingStats stats;
  std::filesystem::path file_path;  // absolute; empty until the file is complete
  std::string file_name;            // name within the storage directory
  uint64_t file_size = 0;
  std::vector<Filter> filters;
  uint32_t snap_length = 0;
  StopConditions stop;
  sink::FileFormat format = sink::FileFormat::kPcap;
  std::string file_prefix;
  std::string node_name;
  std::chrono::system_clock::time_point start_time;
  std::chrono::system_clock::time_point stop_time;  // valid once stopped
  uint64_t version = 0;              // bumped on every state change (not on counter changes)
  std::vector<NodeRecording> nodes;  // a relay's cluster-wide recording: per node; else empty
};

struct StartSpec;  // service/validation.h

// A recording started now from `spec` on `node_name`: running, with the spec's filters, snap
// length, stop conditions, format and file prefix (a node's manager and the relay's cluster
// recordings start from the same).
RecordingInfo started_recording(uint64_t id, const StartSpec& spec, std::string node_name);

}  // namespace recorder::service
