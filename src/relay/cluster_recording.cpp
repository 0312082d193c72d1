#include "relay/cluster_recording.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "service/convert.h"

namespace recorder::relay {
namespace {

// Runs fn(i) for i in [0, n) on one thread each and waits for all.
template <typename Fn>
void for_each_parallel(size_t n, Fn fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back(fn, i);
  for (auto& t : threads) t.join();
}

std::string_view code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "error";
  }
}

std::chrono::system_clock::time_point after(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

}  // namespace

std::string describe(std::string_view call, const grpc::Status& status) {
  return fmt::format("{}: {}: {}", call, code_name(status.error_code()), status.error_message());
}

ClusterRecording::ClusterRecording(const std::vector<Peer>& peers, NodeDeadlines deadlines)
    : deadlines_(deadlines) {
  for (const auto& peer : peers) {
    Node node;
    node.peer = peer;
    node.stub = pb::Recordings::NewStub(peer.channel);
    node.info.address = peer.address;
    node.info.node_name = peer.address;  // until the node tells its name
    nodes_.push_back(std::move(node));
  }
}

std::unique_ptr<ClusterRecording> ClusterRecording::start(const std::vector<Peer>& peers,
                                                          const pb::StartRecording& request,
                                                          NodeDeadlines deadlines) {
  std::unique_ptr<ClusterRecording> cluster(new ClusterRecording(peers, deadlines));
  pb::StartRequest start;
  *start.mutable_recording() = request;
  for_each_parallel(cluster->nodes_.size(), [&](size_t i) {
    Node& node = cluster->nodes_[i];
    grpc::ClientContext context;
    context.set_deadline(after(deadlines.call));
    context.set_wait_for_ready(false);
    pb::StartResponse response;
    const grpc::Status status = node.stub->Start(&context, start, &response);
    node.peer.calls->record(status.ok());
    std::lock_guard lock(cluster->info_mutex_);
    if (!status.ok()) {
      node.failed = true;
      node.info.state = service::RecordingState::kStopped;
      node.info.error = describe("start", status);
      return;
    }
    node.info.recording_id = response.id();
    cluster->update(node, response.info());
  });
  return cluster;
}

std::unique_ptr<ClusterRecording> ClusterRecording::attach(
    const std::vector<Peer>& peers, const std::vector<service::NodeRecording>& nodes,
    NodeDeadlines deadlines) {
  std::unique_ptr<ClusterRecording> cluster(new ClusterRecording({}, deadlines));
  for (const auto& info : nodes) {
    Node node;
    node.info = info;
    auto peer = std::find_if(peers.begin(), peers.end(),
                             [&](const Peer& p) { return p.address == info.address; });
    if (peer != peers.end()) {
      node.peer = *peer;
      node.stub = pb::Recordings::NewStub(peer->channel);
    } else if (info.recording_id != 0) {
      node.info.error = "not among the relay's peers after its restart";
    }
    node.failed = node.stub == nullptr || info.recording_id == 0;
    cluster->nodes_.push_back(std::move(node));
  }
  return cluster;
}

std::unique_ptr<ClusterRecording> ClusterRecording::snapshot(const std::vector<Peer>& peers,
                                                             const pb::SnapshotRequest& request,
                                                             SnapshotCost& cost,
                                                             NodeDeadlines deadlines) {
  std::unique_ptr<ClusterRecording> cluster(new ClusterRecording(peers, deadlines));
  for_each_parallel(cluster->nodes_.size(), [&](size_t i) {
    Node& node = cluster->nodes_[i];
    auto rings = pb::Rings::NewStub(node.peer.channel);
    grpc::ClientContext context;
    // Reading a large ring takes as long as its disk does: the download's deadline, not a call's.
    context.set_deadline(after(deadlines.download));
    context.set_wait_for_ready(false);
    pb::SnapshotResponse response;
    const grpc::Status status = rings->Snapshot(&context, request, &response);
    // A node without the ring or without packets of the range answered: it is healthy.
    node.peer.calls->record(status.ok() || status.error_code() == grpc::StatusCode::NOT_FOUND ||
                            status.error_code() == grpc::StatusCode::OUT_OF_RANGE);
    std::lock_guard lock(cluster->info_mutex_);
    if (!status.ok()) {
      node.failed = true;
      node.info.state = service::RecordingState::kStopped;
      node.info.error = describe("snapshot", status);
      return;
    }
    node.info.recording_id = response.recording().id();
    cluster->update(node, response.recording());
    cost.chunks_read += response.chunks_read();
    cost.packets_examined += response.packets_examined();
  });
  return cluster;
}

void ClusterRecording::update(Node& node, const pb::RecordingInfo& info) {
  if (!info.node_name().empty()) node.info.node_name = info.node_name();
  node.info.state = service::from_proto(info.state());
  node.info.stop_reason = service::from_proto(info.stop_reason());
  node.info.stats = service::from_proto(info.stats());
  node.info.file_path = info.file_path();
  node.info.file_size = info.file_size();
}

size_t ClusterRecording::started() const {
  std::lock_guard lock(info_mutex_);
  size_t n = 0;
  for (const auto& node : nodes_) n += node.info.recording_id != 0 ? 1 : 0;
  return n;
}

void ClusterRecording::poll() {
  // A stop (or download) in progress refreshes the nodes itself: do not wait behind it.
  std::unique_lock op(op_mutex_, std::try_to_lock);
  if (!op.owns_lock()) return;
  for_each_parallel(nodes_.size(), [&](size_t i) {
    Node& node = nodes_[i];
    {
      std::lock_guard lock(info_mutex_);
      if (node.failed || node.info.state == service::RecordingState::kStopped) return;
    }
    grpc::ClientContext context;
    context.set_deadline(after(deadlines_.call));
    pb::GetRequest get;
    get.set_id(node.info.recording_id);
    pb::RecordingInfo info;
    const grpc::Status status = node.stub->Get(&context, get, &info);
    node.peer.calls->record(status.ok());
    std::lock_guard lock(info_mutex_);
    if (!status.ok()) {
      node.info.error = describe("get", status);
      return;
    }
    node.info.error.clear();
    update(node, info);
  });
}

bool ClusterRecording::all_stopped() const {
  std::lock_guard lock(info_mutex_);
  bool any_stopped = false;
  for (const auto& node : nodes_) {
    if (node.failed) continue;
    if (node.info.state == service::RecordingState::kStopped) {
      any_stopped = true;
    } else if (node.info.error.empty()) {
      return false;  // still running
    }
    // Running but not answering: it cannot hold the others back, but alone it ends nothing.
  }
  return any_stopped;
}

void ClusterRecording::stop() {
  std::lock_guard op(op_mutex_);
  for_each_parallel(nodes_.size(), [&](size_t i) {
    Node& node = nodes_[i];
    {
      std::lock_guard lock(info_mutex_);
      if (node.failed) return;
    }
    // Stop is idempotent: also for a node that stopped on its own it returns the final state.
    grpc::ClientContext context;
    context.set_deadline(after(deadlines_.stop));
    pb::StopRequest stop;
    stop.set_id(node.info.recording_id);
    pb::RecordingInfo info;
    const grpc::Status status = node.stub->Stop(&context, stop, &info);
    node.peer.calls->record(status.ok());
    std::lock_guard lock(info_mutex_);
    if (!status.ok()) {
      node.failed = true;
      node.info.error = describe("stop", status);
      return;
    }
    node.info.error.clear();
    update(node, info);
  });
}

std::vector<std::pair<size_t, MergeInput>> ClusterRecording::download(
    const std::filesystem::path& dir, const std::string& stem) {
  std::lock_guard op(op_mutex_);
  std::vector<std::optional<MergeInput>> results(nodes_.size());
  for_each_parallel(nodes_.size(), [&](size_t i) {
    Node& node = nodes_[i];
    {
      std::lock_guard lock(info_mutex_);
      if (node.failed) return;
    }
    const std::filesystem::path path = dir / fmt::format("{}.{}.pcapng", stem, i);
    auto fail = [&](const std::string& error) {
      ::unlink(path.c_str());
      std::lock_guard lock(info_mutex_);
      node.failed = true;
      node.info.error = error;
    };
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      fail(fmt::format("download: create {}: {}", path.string(), std::strerror(errno)));
      return;
    }
    grpc::ClientContext context;
    context.set_deadline(after(deadlines_.download));
    pb::DownloadRequest request;
    request.set_id(node.info.recording_id);
    auto reader = node.stub->Download(&context, request);
    pb::DownloadChunk chunk;
    uint64_t written = 0;
    uint64_t size = 0;
    std::string write_error;
    while (reader->Read(&chunk)) {
      size = chunk.file_size();
      if (chunk.offset() != written) {
        write_error =
            fmt::format("download: chunk at offset {}, expected {}", chunk.offset(), written);
        context.TryCancel();
        break;
      }
      const std::string& data = chunk.data();
      size_t done = 0;
      while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          write_error = fmt::format("download: write {}: {}", path.string(), std::strerror(errno));
          break;
        }
        done += static_cast<size_t>(n);
      }
      if (!write_error.empty()) {
        context.TryCancel();
        break;
      }
      written += data.size();
    }
    const grpc::Status status = reader->Finish();
    node.peer.calls->record(status.ok() || !write_error.empty());  // our disk: not the peer's fault
    ::close(fd);
    if (!write_error.empty()) return fail(write_error);
    if (!status.ok()) return fail(describe("download", status));
    if (written != size) {
      return fail(fmt::format("download: {} of {} bytes received", written, size));
    }
    std::lock_guard lock(info_mutex_);
    results[i] = MergeInput{node.info.node_name, node.info.address, path};
  });
  std::vector<std::pair<size_t, MergeInput>> inputs;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i]) inputs.emplace_back(i, std::move(*results[i]));
  }
  return inputs;
}

void ClusterRecording::remove_on_nodes() {
  std::lock_guard op(op_mutex_);
  for_each_parallel(nodes_.size(), [&](size_t i) {
    Node& node = nodes_[i];
    if (node.info.recording_id == 0 || node.stub == nullptr) return;
    grpc::ClientContext context;
    context.set_deadline(after(deadlines_.call));
    pb::DeleteRequest request;
    request.set_id(node.info.recording_id);
    pb::DeleteResponse response;
    const grpc::Status status = node.stub->Delete(&context, request, &response);
    node.peer.calls->record(status.ok() || status.error_code() == grpc::StatusCode::NOT_FOUND);
    if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
      spdlog::warn("delete recording {} on node {} ({}): {}", node.info.recording_id,
                   node.info.node_name, node.info.address, describe("delete", status));
    }
  });
}

void ClusterRecording::set_error(size_t index, const std::string& error) {
  std::lock_guard lock(info_mutex_);
  nodes_[index].info.error = error;
}

std::vector<service::NodeRecording> ClusterRecording::nodes() const {
  std::lock_guard lock(info_mutex_);
  std::vector<service::NodeRecording> out;
  out.reserve(nodes_.size());
  for (const auto& node : nodes_) out.push_back(node.info);
  return out;
}

}  // namespace recorder::relay
