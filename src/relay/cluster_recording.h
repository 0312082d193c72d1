// ClusterRecording: one recording fanned out to many nodes. It starts the same request on every
// peer at once, refreshes each node's state, stops them together, downloads each node's file
// (the Download RPC, straight to disk: a chunk of at most 1 MiB in memory per node) and deletes
// the nodes' files. Every node call runs on its own thread with a deadline, so one slow or dead
// node costs one deadline, not one per node. A node that fails keeps its error; the others go on.
//
// Threads: the operations (poll, stop, download, remove_on_nodes) are serialized; nodes() may be
// called from any thread at any time.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "recorder.grpc.pb.h"
#include "relay/merge.h"
#include "relay/peers.h"
#include "service/recording_info.h"

namespace recorder::relay {

struct NodeDeadlines {
  std::chrono::milliseconds call{10000};        // Start, Get, Delete
  std::chrono::milliseconds stop{120000};       // Stop waits for the node's drain and close
  std::chrono::milliseconds download{1800000};  // one node's whole file
};

// A failed call to a node, as node errors say it: "<call>: UNAVAILABLE: <message>".
std::string describe(std::string_view call, const grpc::Status& status);

class ClusterRecording {
 public:
  // Starts `request` on every peer at once. Always returns the recording; started() says on how
  // many nodes it runs, nodes() why it does not on the others.
  static std::unique_ptr<ClusterRecording> start(const std::vector<Peer>& peers,
                                                 const pb::StartRecording& request,
                                                 NodeDeadlines deadlines = {});

  // Takes the snapshot `request` (its time range fixed: the same on every node) of the ring of
  // that name on every peer at once (Rings.Snapshot): each node's snapshot is a finished
  // recording there, downloaded, merged and deleted like any other. A node without such a ring
  // (NOT_FOUND), with nothing of the range (OUT_OF_RANGE) or not answering keeps its error and is
  // left out. `cost` gets the chunks read and packets examined, summed over the nodes.
  struct SnapshotCost {
    uint64_t chunks_read = 0;
    uint64_t packets_examined = 0;
  };
  static std::unique_ptr<ClusterRecording> snapshot(const std::vector<Peer>& peers,
                                                    const pb::SnapshotRequest& request,
                                                    SnapshotCost& cost,
                                                    NodeDeadlines deadlines = {});

  // The recording `nodes` (as a relay's metadata kept them) on the peers of the same addresses,
  // after the relay's restart: to stop, download and delete it there. A node whose address is no
  // peer any more, or where it never started, is failed (with the reason, for the first).
  static std::unique_ptr<ClusterRecording> attach(const std::vector<Peer>& peers,
                                                  const std::vector<service::NodeRecording>& nodes,
                                                  NodeDeadlines deadlines = {});

  size_t started() const;
  // Refreshes the state of every node that runs it (Get). A node that does not answer keeps its
  // last state with an error saying so; one that answers again loses that error.
  void poll();
  // True when no node runs it any more: each stopped on its own, failed, or does not answer,
  // and at least one stopped on its own (so an outage of every node does not end it).
  bool all_stopped() const;
  // Stops it on every node still running it (Stop) and keeps their final states.
  void stop();
  // Downloads each stopped node's file to `dir`/`stem`.<n>.pcapng; returns the files that
  // downloaded completely, as merge inputs, with the index of their node.
  std::vector<std::pair<size_t, MergeInput>> download(const std::filesystem::path& dir,
                                                      const std::string& stem);
  // Deletes the node's files (Delete); failures are logged.
  void remove_on_nodes();
  // Notes an error on node `index` (e.g. from the merge).
  void set_error(size_t index, const std::string& error);

  std::vector<service::NodeRecording> nodes() const;

 private:
  struct Node {
    Peer peer;
    std::unique_ptr<pb::Recordings::Stub> stub;
    service::NodeRecording info;
    bool failed = false;  // will not be in the merged file
  };
  explicit ClusterRecording(const std::vector<Peer>& peers, NodeDeadlines deadlines);
  void update(Node& node, const pb::RecordingInfo& info);  // info_mutex_ held by the caller

  NodeDeadlines deadlines_;
  std::mutex op_mutex_;            // one operation at a time
  mutable std::mutex info_mutex_;  // nodes_[*].info and failed
  std::vector<Node> nodes_;
};

}  // namespace recorder::relay
