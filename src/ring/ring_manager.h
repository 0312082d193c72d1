// RingManager: every flight-recorder ring of this node. Rings live in "<storage>/rings/<name>/"
// ("rings" is made with the first ring);
// at creation the manager opens each ring found there (repairing and indexing its chunks) and
// restarts those that were running when the daemon last stopped. One thread calls every ring's
// maintain() (rotation hand-over, retention), another closes and indexes the full chunks
// (close_chunks()), so capture never waits for any of it. Both sleep until something happens:
// the maintenance thread until a ring rotated (a Wakeup the hot path notifies), a ring started,
// the closer closed a chunk, or the earliest max_age expiry of a closed chunk (the only
// deadline; without one it does not wake at all); the closer until the maintenance handed it
// chunks. The free-disk floor is looked at whenever maintenance runs, so it follows the ring's
// own writes (each rotation); a disk that others fill while the ring takes no packets is seen at
// the ring's next rotation.
//
// Threads: every public method may be called from any thread (gRPC handlers, the daemon).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/wakeup.h"
#include "ring/ring.h"

namespace recorder::ring {

struct RingManagerOptions {
  std::filesystem::path path;  // the rings' directory ("<storage>/rings")
  RingOptions ring;
  size_t max_rings = 16;
};

struct SnapshotRequest {
  std::string name;
  uint64_t from_ns = 0;         // inclusive
  uint64_t to_ns = UINT64_MAX;  // inclusive
  std::vector<Filter> filters;  // empty: every packet
};

class RingManager {
 public:
  static Result<std::unique_ptr<RingManager>> create(RingManagerOptions options, RingHost& host);
  // Stops every ring (they restart at the next boot) and joins the thread.
  ~RingManager();

  // Starts a new ring, or restarts a stopped one with `spec`. ALREADY_EXISTS when it runs.
  Result<RingStatus> start(const RingSpec& spec);
  // A ring of the daemon's config: started unless it already runs with this very spec (then
  // nothing changes); one running with another spec is restarted with this one.
  Result<RingStatus> declare(const RingSpec& spec);
  Result<RingStatus> get(const std::string& name) const;
  std::vector<RingStatus> list() const;
  // Stops capturing; the chunks stay for snapshots. Idempotent.
  Result<RingStatus> stop(const std::string& name);
  // Stops the ring and deletes it with every chunk.
  Status remove(const std::string& name);
  // Hands the selected packets to `emit`, in capture-time order. OUT_OF_RANGE, saying what the
  // ring holds, when the ring holds nothing of the range.
  Status snapshot(const SnapshotRequest& request,
                  const std::function<Status(const CapturedPacket&)>& emit,
                  SnapshotCounts* counts = nullptr) const;
  // Stops every ring, keeping them marked as running (daemon shutdown).
  void shutdown();

 private:
  RingManager(RingManagerOptions options, RingHost& host);
  // The rings' directory, created with the first ring (a daemon without rings leaves none).
  Result<const storage::Directory*> directory(bool create);
  Status load();
  void maintenance_loop();
  void closer_loop();
  // The earliest max_age expiry of any ring's closed chunks, in the steady clock.
  std::optional<std::chrono::steady_clock::time_point> next_deadline() const;
  static void kick(void* manager) noexcept;
  Result<Ring*> find(const std::string& name) const;

  RingManagerOptions options_;  // set at construction, read-only after
  RingHost& host_;
  mutable std::mutex mutex_;  // rings_ (the map, not the rings) and dir_
  std::optional<storage::Directory> dir_;
  std::map<std::string, std::shared_ptr<Ring>> rings_;
  std::optional<Wakeup> wake_;  // the maintenance thread sleeps on it (set by create())
  std::atomic<bool> quit_{false};
  std::thread thread_;  // maintenance: hand-over and retention
  std::condition_variable closer_wake_;
  bool close_pending_ = false;  // under mutex_: maintenance queued chunks to close
  std::thread closer_;          // closes and indexes full chunks
};

}  // namespace recorder::ring
