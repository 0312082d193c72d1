// RecordingBackend: what the two gRPC services (record_service.h, recordings_service.h) need from
// whatever runs the recordings. recorderd's RecordingManager records on this node; the
// recorder-relay's ClusterRecordings (src/relay) records on every node of a cluster and merges.
// The services, their validation and the server setup are the same for both.
//
// Threads: every method is safe to call from any thread (gRPC handlers, tickers).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "service/recording_info.h"
#include "service/validation.h"

namespace recorder::service {

class RecordingBackend {
 public:
  virtual ~RecordingBackend() = default;

  // Starts a recording. RESOURCE_EXHAUSTED when a limit does not allow it; UNAVAILABLE once
  // shutting down.
  virtual Result<RecordingInfo> start(const StartSpec& spec) = 0;
  // Stops a recording and waits until its file is complete. Idempotent: for a stopping or
  // stopped recording it waits for / returns the final state (the first reason wins).
  virtual Result<RecordingInfo> stop(uint64_t id, StopReason reason) = 0;
  // Asks for a stop soon; returns at once (for callers that must not block).
  virtual void request_stop(uint64_t id, StopReason reason) = 0;

  // Not const: reading may fold in what the backend learns at the read (recorderd attributes the
  // datapath's kernel losses to recordings when their stats are read).
  virtual Result<RecordingInfo> get(uint64_t id) = 0;
  // Up to `limit` recordings with ids above `after_id`, by id; `more` tells whether others follow.
  struct Page {
    std::vector<RecordingInfo> recordings;
    bool more = false;
  };
  virtual Page list(uint64_t after_id = 0, size_t limit = SIZE_MAX) = 0;

  // Blocks until the recording's state version differs from `seen_version`, or `timeout`.
  // Returns false on timeout (or for an unknown id).
  virtual bool wait_for_change(uint64_t id, uint64_t seen_version,
                               std::chrono::milliseconds timeout) const = 0;

  // The complete file of a finished recording, opened read-only inside the storage directory
  // (no symbolic link followed; a regular file with one link, checked on the opened fd).
  // FAILED_PRECONDITION while it runs, NOT_FOUND when unknown or gone.
  struct OpenFile {
    Fd fd;
    std::string name;  // in the storage directory, for messages
  };
  virtual Result<OpenFile> open_file(uint64_t id) const = 0;
  // Deletes a finished recording's file and forgets it.
  virtual Status remove(uint64_t id) = 0;

  // The name in every Record response.
  virtual const std::string& node_name() const = 0;
};

// wait_for_change for a backend that keeps its recordings in a map from id to an entry with an
// `info` (RecordingInfo), guarded by the mutex `lock` holds, whose changes are announced on
// `changed`: waits until the entry is gone or its info.version is no longer `seen_version`.
template <class Entries>
bool wait_for_version_change(std::condition_variable& changed, std::unique_lock<std::mutex>& lock,
                             const Entries& entries, uint64_t id, uint64_t seen_version,
                             std::chrono::milliseconds timeout) {
  return changed.wait_for(lock, timeout, [&] {
    auto it = entries.find(id);
    return it == entries.end() || it->second.info.version != seen_version;
  });
}

}  // namespace recorder::service
