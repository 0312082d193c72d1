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
// The registry lives in memory: after a restart the relay starts from ids above those of the
// merged files in its storage directory, but does not list them.
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
#include "service/recording_backend.h"
#include "storage/directory.h"

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
  Result<service::RecordingInfo> get(uint64_t id) const override;
  Page list(uint64_t after_id = 0, size_t limit = SIZE_MAX) const override;
  bool wait_for_change(uint64_t id, uint64_t seen_version,
                       std::chrono::milliseconds timeout) const override;
  Result<OpenFile> open_file(uint64_t id) const override;
  Status remove(uint64_t id) override;
  const std::string& node_name() const override { return options_.node_name; }

  // Refuses new starts and stops every running recording (reason: daemon shutdown).
  void shutdown();

 private:
  struct Entry {
    service::RecordingInfo info;
    std::shared_ptr<ClusterRecording> cluster;
    bool finishing = false;  // a thread is stopping, downloading and merging it
  };
  ClusterRecordings(RelayOptions options, PeerSet& peers, storage::Directory dir);
  void poll_loop();
  void finish_loop();
  // Stops, downloads and merges; fills the entry's final state. Called without the lock by the
  // one thread that set `finishing`.
  void finish(uint64_t id, std::shared_ptr<ClusterRecording> cluster, StopReason reason);
  void refresh_locked(Entry& entry);  // info.nodes and stats from the cluster

  const RelayOptions options_;
  PeerSet& peers_;
  storage::Directory dir_;  // the storage directory: merged files are served through it
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
