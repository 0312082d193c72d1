// RecordingManager: the lifecycle of every recording on this node.
//
// It owns the WriterPool (the writer threads), the Dispatcher/Router pair that the packet
// source feeds (consumer()), the storage directory and the daemon-wide limits. start() validates
// against the limits, names and opens the file (Sink), creates the Recording and adds it to the
// Router. A control thread stops recordings whose limit, duration or sink error hit (the writers
// keep the free-space floor: a sink fails with "disk full" before the disk is) or whose
// interfaces are gone, retries metadata writes that failed, and deletes the finished recordings
// that the retention policy (retention.h) no longer keeps. It sleeps until something happens:
// a Wakeup notified by a recording that reached its limit (hot path), a sink that failed (writer
// thread), a stop request, an interface change (interfaces_changed()) or a finished recording,
// and otherwise only until the earliest deadline it has (a recording's duration, a metadata
// retry, the next retention expiry); with none, it does not wake at all. The datapath's kernel
// losses are attributed to recordings when someone reads their stats (get, list) and at the
// stop, not on a timer.
// stop() takes the recording out of the routing table, drains and closes its file, has the store
// (recording_store.h) persist its final state and keeps it in a registry, so get()/list() show
// running and finished recordings alike. The registry is rebuilt at start-up from the storage
// directory (registry_rebuild.h), after partial files left by a crash have been repaired.
//
// Threads: every public method is safe to call from any thread (gRPC handlers, the control
// thread, the daemon's signal thread). The packet source calls consumer() from its own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
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
#include "dispatch/dispatcher.h"
#include "dispatch/recording.h"
#include "ring/ring_host.h"
#include "service/limits.h"
#include "service/recording_backend.h"
#include "service/recording_info.h"
#include "service/recording_store.h"
#include "service/retention.h"
#include "service/validation.h"
#include "sink/sink.h"
#include "storage/directory.h"

namespace recorder::service {

// Kernel losses of one recording, as the datapath reports them.
struct KernelLossEntry {
  uint64_t recording_id = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

struct ManagerOptions {
  std::filesystem::path storage_path;  // created if missing (mode permissions.dir_mode)
  storage::Permissions permissions;    // of recording files and a created storage directory
  std::string node_name;
  ServiceLimits limits;
  unsigned writer_threads = 1;
  bool use_io_uring = true;
  // How long stopping a recording waits for the disk to complete its writes; past it the
  // recording ends with a write error and its partial file is repaired at the next start.
  std::chrono::milliseconds write_timeout{30000};
  bool direct_io = true;
  RuleListener* kernel_rules = nullptr;  // the datapath's rule table, if any (not owned)
  // Kernel losses since the last call; called when stats are read and at a stop (any thread,
  // one at a time). Empty when there is no datapath.
  std::function<std::vector<KernelLossEntry>()> take_kernel_losses;
  // How many interfaces the datapath captures on right now; empty when there is no datapath.
  // A running recording that saw at least one interface stops with "interface gone" once there
  // are none left (exact names deleted, or every glob match gone). Looked at when a recording
  // starts and after interfaces_changed().
  std::function<size_t()> attached_interface_count;
  // Which finished recordings the control thread deletes (file, metadata and registry entry).
  RetentionPolicy retention;
  // Repairs partial files in the storage directory before the registry is rebuilt; returns one
  // log line per file it handled. Empty: partial files are left alone.
  std::function<std::vector<std::string>(const std::filesystem::path&)> recover_partial_files;
};

class RecordingManager final : public RecordingBackend, public ring::RingHost {
 public:
  // Creates the storage directory if needed, runs partial-file recovery, rebuilds the registry
  // of finished recordings, creates the writer pool and starts the control thread.
  static Result<std::unique_ptr<RecordingManager>> create(ManagerOptions options);
  // Stops every running recording (reason: daemon shutdown) and joins the threads. The packet
  // source must no longer be running.
  ~RecordingManager() override;
  RecordingManager(const RecordingManager&) = delete;
  RecordingManager& operator=(const RecordingManager&) = delete;

  // What the packet source feeds.
  PacketConsumer& consumer();

  // Starts a recording. RESOURCE_EXHAUSTED for the recordings limit, queue memory, rule slots or
  // free disk; UNAVAILABLE once shutting down.
  Result<RecordingInfo> start(const StartSpec& spec) override;

  // Stops a recording and waits until its file is complete. Idempotent: for a stopping or
  // stopped recording it waits for / returns the final state (the first reason wins).
  Result<RecordingInfo> stop(uint64_t id, StopReason reason) override;
  // Asks the control thread to stop it soon; returns at once (for callers that must not block).
  void request_stop(uint64_t id, StopReason reason) override;
  // Stops every running recording with `reason` (e.g. the packet source ended).
  void stop_all(StopReason reason);
  // Refuses new starts from now on and stops everything with reason daemon shutdown.
  void shutdown();

  // Stats include the kernel losses the datapath reports up to now.
  Result<RecordingInfo> get(uint64_t id) override;
  Page list(uint64_t after_id = 0, size_t limit = SIZE_MAX) override;

  // The datapath attached to or lost an interface: running recordings whose interfaces are all
  // gone stop ("interface gone"). Any thread.
  void interfaces_changed();
  size_t running_count() const;

  // Blocks until the recording's state version differs from `seen_version`, or `timeout`.
  // Returns false on timeout (or for an unknown id).
  bool wait_for_change(uint64_t id, uint64_t seen_version,
                       std::chrono::milliseconds timeout) const override;

  // The complete file of a finished recording, opened read-only through the store: relative to
  // the storage directory's fd, no symbolic link followed, and refused (FAILED_PRECONDITION)
  // unless it is a regular file with one link, checked on the opened fd, so what is read is what
  // was checked. FAILED_PRECONDITION while it runs, NOT_FOUND when unknown or gone.
  Result<OpenFile> open_file(uint64_t id) const override;
  // Deletes a finished recording's file and metadata and forgets it.
  Status remove(uint64_t id) override;

  // What the writers have done, for metrics: bytes written into recording files since the
  // manager started (the completed writes of running recordings plus the files of those that
  // finished since; never decreases), and the write queue of each running recording.
  struct WriteActivity {
    struct Queue {
      uint64_t id = 0;
      std::string file_name;
      uint64_t queued_bytes = 0;
      uint64_t capacity_bytes = 0;
    };
    uint64_t written_bytes = 0;
    std::vector<Queue> queues;
  };
  WriteActivity write_activity() const;
  // Free bytes on the storage filesystem (what an unprivileged writer may use).
  Result<uint64_t> storage_free_bytes() const { return store_->free_bytes(); }
  // A finished recording whose packets come from `produce` instead of the datapath (a ring's
  // snapshot). The file is named and opened as for start(); `produce` hands the packets to the
  // Append it gets, which waits while the sink's queue is full (nothing is dropped); then the
  // file is closed and the recording kept as stopped (reason "source ended"): listed, watched,
  // downloaded and deleted like any other. When `produce` fails, nothing is left behind.
  using Append = std::function<Status(const CapturedPacket&)>;
  Result<RecordingInfo> record_from(const StartSpec& spec,
                                    const std::function<Status(const Append&)>& produce);

  // ring::RingHost: rings share the routing table, the kernel rules and the writer pool.
  uint64_t allocate_id() override;
  Status attach(std::shared_ptr<Recording> recording) override;
  void detach(uint64_t recording_id) override;
  // Attributes the kernel losses the datapath reports to their recordings (rings' too).
  void absorb_kernel_losses() override;
  sink::WriterPool& writers() override { return *writers_; }

  const std::filesystem::path& storage_path() const { return store_->path(); }
  const std::string& node_name() const override { return options_.node_name; }
  std::string writer_backend() const;

 private:
  struct Entry {
    RecordingInfo info;                    // static fields + final state
    std::shared_ptr<Recording> recording;  // while running/stopping
    std::chrono::steady_clock::time_point started;
    bool saw_interfaces = false;  // the datapath had an interface while this recording ran
    MetadataSlot metadata;        // reserved at the start, written at the stop
  };
  // Metadata whose write failed; the control thread retries it.
  struct PendingMetadata {
    RecordingInfo info;
    MetadataSlot slot;
    unsigned attempts = 0;
  };

  // A new recording's info (running, started now), the metadata space reserved for it and its
  // open sink: what start() and record_from() begin with. On failure nothing is left behind.
  struct OpenedRecording {
    RecordingInfo info;
    MetadataSlot metadata;
    std::unique_ptr<sink::Sink> sink;
  };

  explicit RecordingManager(ManagerOptions options);
  Status init();
  Result<OpenedRecording> open_recording(uint64_t id, const StartSpec& spec);
  void control_loop();
  // Writes a stopped recording's metadata; a failure is logged and queued for a retry.
  void save_metadata(RecordingInfo info, MetadataSlot slot, unsigned attempts = 0);
  // Retries the metadata writes that failed (control thread, and once more at destruction).
  void retry_metadata();
  // Deletes a finished recording's file and metadata and drops its entry; returns its file name.
  Result<std::string> forget(uint64_t id);
  // Deletes the finished recordings the retention policy no longer keeps.
  void apply_retention();
  // When the control thread must look again even if nothing wakes it; nullopt: never.
  std::optional<std::chrono::steady_clock::time_point> next_deadline_locked(
      std::chrono::steady_clock::time_point now) const;
  // When retention must run next: now after a recording finished, else the oldest finished
  // recording's expiry under --retain-max-age; nullopt: not until a recording finishes.
  std::optional<std::chrono::steady_clock::time_point> next_retention_locked(
      std::chrono::steady_clock::time_point now) const;
  RecordingInfo snapshot_locked(const Entry& entry) const;

  ManagerOptions options_;
  std::unique_ptr<RecordingStore> store_;
  std::unique_ptr<sink::WriterPool> writers_;
  Dispatcher dispatcher_;
  std::unique_ptr<Router> router_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<uint64_t, Entry> entries_;
  std::vector<std::pair<uint64_t, StopReason>> stop_requests_;
  std::map<uint64_t, PendingMetadata> pending_metadata_;
  uint64_t next_id_ = 1;
  bool shutting_down_ = false;
  bool quit_ = false;
  bool retention_due_ = true;  // a recording finished since retention last ran (or start-up)
  uint64_t finished_written_bytes_ = 0;  // written by the sinks of recordings finished so far
  std::chrono::steady_clock::time_point last_metadata_retry_{};
  std::mutex start_mutex_;   // serializes start() so limit checks and the add are atomic
  std::mutex losses_mutex_;  // one take-and-attribute of kernel losses at a time
  // Rings' recordings (RingHost::attach), by id: kernel losses are attributed to them too.
  std::map<uint64_t, std::shared_ptr<Recording>> attached_;

  std::optional<Wakeup> control_wake_;  // the control thread sleeps on it (set by init())
  std::thread control_;
};

}  // namespace recorder::service
