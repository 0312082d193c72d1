// ClusterRecordings: the recorder-relay's RecordingBackend. The same two gRPC services as
// recorderd run on it (service/server.h), so `hubble record` and `recorderctl` talk to a relay
// as to a daemon, and every recording is cluster-wide:
//  - start: the same request on every peer at once (ClusterRecording), the nodes recording
//    pcapng (their interfaces stay apart); it fails only when no node started it.
//  - while it runs, a poller refreshes the nodes (every `poll_interval`): the recording's stats
//    are the sums, RecordingInfo.nodes the breakdown. The stop conditions apply on each node;
//    once every node has stopped on its own the relay finishes the recording.
//  - stop: every node stops, each node's file is downloaded into the storage directory, the
//    files are merged (merge.h) into "<prefix>_<time>_<id>_<relay>.pcap[ng]" in the format the
//    client asked for, and the downloads are removed. A node that failed anywhere is named with
//    its error in RecordingInfo.nodes and in stop_message; the merged file holds the others.
//    A stop requested without waiting (Record stream) runs on the finisher thread.
//  - delete: the merged file, and the recording on every node.
// The registry is kept on disk next to the merged files, as recorderd keeps its own
// (service/recording_store.h: a hidden ".<file>.json" per recording, written durably): the
// relay writes it when a recording starts (with each node's recording id) and again when it
// stops. After a restart the finished ones are listed, fetched and deleted as before; one that
// was running (or being merged) when the relay died is finished at once: stopped on its nodes,
// their files downloaded and merged, its stop reason "daemon shutdown" and its stop message
// beginning "interrupted: ...".
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "relay/cluster_recording.h"
#include "relay/peers.h"
#include "ring/ring_manager.h"
#include "service/recording_backend.h"
#include "service/recording_store.h"

namespace recorder::relay {

struct RelayOptions {
  std::filesystem::path storage_path;  // merged files (created if missing, mode 0750)
  std::string node_name;               // the relay's name: in responses and file names
  std::chrono::milliseconds poll_interval{250};
  NodeDeadlines deadlines;
};

class ClusterRecordings final : public service::RecordingBackend {
 public:
  static Result<std::unique_ptr<ClusterRecordings>> create(RelayOptions options, PeerSet& peers);
  ~ClusterRecordings() override;

  Result<service::RecordingInfo> start(const service::StartSpec& spec) override;
  Result<service::RecordingInfo> stop(uint64_t id, StopReason reason) override;
  void request_stop(uint64_t id, StopReason reason) override;
  Result<service::RecordingInfo> get(uint64_t id) override;
  Page list(uint64_t after_id = 0, size_t limit = SIZE_MAX) override;
  bool wait_for_change(uint64_t id, uint64_t seen_version,
                       std::chrono::milliseconds timeout) const override;
  Result<OpenFile> open_file(uint64_t id) const override;
  Status remove(uint64_t id) override;
  const std::string& node_name() const override { return options_.node_name; }

  // A snapshot of the ring `query.name` on every node (ClusterRecording::snapshot) for the same
  // time range, merged like a recording's files into a finished recording of this relay
  // ("<ring>_<time>_<id>_<relay>.pcapng", reason "source ended") whose nodes say which node had
  // no such ring, which failed and why. NOT_FOUND when no node has the ring, OUT_OF_RANGE when
  // those that have it hold nothing of the range, UNAVAILABLE when no node answered.
  struct Snapshot {
    service::RecordingInfo info;
    ClusterRecording::SnapshotCost cost;
  };
  Result<Snapshot> snapshot(const ring::SnapshotRequest& query);

  // Refuses new starts and stops every running recording (reason: daemon shutdown).
  void shutdown();

 private:
  // The peers a new recording or snapshot goes to; an error when the relay is shutting down or
  // knows no peer.
  Result<std::vector<Peer>> peers_to_ask();

  struct Entry {
    service::RecordingInfo info;
    std::shared_ptr<ClusterRecording> cluster;
    bool finishing = false;  // a thread is stopping, downloading and merging it
    std::string what;        // the merged file's comment begins with it
    std::string name;        // the merged file's name, once it exists; its metadata's key always
    std::string note;        // the stop message begins with it
  };
  ClusterRecordings(RelayOptions options, PeerSet& peers,
                    std::unique_ptr<service::RecordingStore> store);
  // Reads the registry back from the metadata in the storage directory (at create()).
  void load();
  // Writes `info` durably as the metadata of the merged file `name` (a failure is logged).
  void persist(service::RecordingInfo info, const std::string& name) const;
  void poll_loop();
  void finish_loop();
  // Stops, downloads and merges; fills the entry's final state. Called without the lock by the
  // one thread that set `finishing`.
  void finish(uint64_t id, std::shared_ptr<ClusterRecording> cluster, StopReason reason);
  void refresh_locked(Entry& entry);  // info.nodes and stats from the cluster

  const RelayOptions options_;
  PeerSet& peers_;
  std::unique_ptr<service::RecordingStore> store_;  // merged files and their metadata
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<uint64_t, Entry> entries_;
  std::deque<std::pair<uint64_t, StopReason>> stop_requests_;
  std::condition_variable stop_requested_;
  uint64_t next_id_ = 1;
  bool shutting_down_ = false;
  bool quit_ = false;
  std::thread poller_;
  std::thread finisher_;
};

}  // namespace recorder::relay
