#include "relay/cluster_recordings.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

#include "service/convert.h"
#include "sink/file_naming.h"
#include "storage/directory.h"

namespace recorder::relay {
namespace fs = std::filesystem;
using service::RecordingInfo;
using service::RecordingState;

namespace {

void add(RecordingStats& sum, const RecordingStats& s) {
  sum.packets_captured += s.packets_captured;
  sum.bytes_captured += s.bytes_captured;
  sum.packets_lost_kernel += s.packets_lost_kernel;
  sum.bytes_lost_kernel += s.bytes_lost_kernel;
  sum.packets_lost_queue += s.packets_lost_queue;
  sum.bytes_lost_queue += s.bytes_lost_queue;
  sum.packets_lost_write += s.packets_lost_write;
  sum.bytes_lost_write += s.bytes_lost_write;
}

std::string node_label(const service::NodeRecording& node) {
  return node.node_name == node.address ? node.address
                                        : fmt::format("{} ({})", node.node_name, node.address);
}

// "node-c (10.0.0.7:4245): stop: UNAVAILABLE: ...; ..." for the nodes with an error.
std::string failed_nodes(const std::vector<service::NodeRecording>& nodes) {
  std::string text;
  for (const auto& node : nodes) {
    if (node.error.empty()) continue;
    if (!text.empty()) text += "; ";
    text += node_label(node) + ": " + node.error;
  }
  return text;
}

// The merged file's section comment: what was recorded, where.
std::string section_comment(const RecordingInfo& info,
                            const std::vector<service::NodeRecording>& nodes) {
  std::string filters;
  for (const auto& f : info.filters) {
    if (!filters.empty()) filters += ", ";
    filters += to_string(f);
  }
  std::string names;
  for (const auto& node : nodes) {
    if (!names.empty()) names += ", ";
    names += node_label(node);
    if (!node.error.empty()) names += " [failed: " + node.error + "]";
  }
  return fmt::format("pcap-recorder cluster recording {} by relay {}; filters: {}; nodes: {}",
                     info.id, info.node_name, filters, names);
}

}  // namespace

ClusterRecordings::ClusterRecordings(RelayOptions options, PeerSet& peers, storage::Directory dir)
    : options_(std::move(options)), peers_(peers), dir_(std::move(dir)) {}

Result<std::unique_ptr<ClusterRecordings>> ClusterRecordings::create(RelayOptions options,
                                                                     PeerSet& peers) {
  auto dir = storage::Directory::open_or_create(options.storage_path);
  if (!dir) return std::move(dir).error().wrap("--storage-path");
  std::unique_ptr<ClusterRecordings> relay(
      new ClusterRecordings(std::move(options), peers, std::move(*dir)));
  // Ids continue above the merged files already there, so no name is ever reused.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(relay->options_.storage_path, ec)) {
    auto name = sink::parse_recording_file_name(e.path().filename().string());
    if (name) relay->next_id_ = std::max(relay->next_id_, name->id + 1);
  }
  relay->poller_ = std::thread([r = relay.get()] { r->poll_loop(); });
  relay->finisher_ = std::thread([r = relay.get()] { r->finish_loop(); });
  return relay;
}

ClusterRecordings::~ClusterRecordings() {
  shutdown();
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  stop_requested_.notify_all();
  changed_.notify_all();
  poller_.join();
  finisher_.join();
}

Result<RecordingInfo> ClusterRecordings::start(const service::StartSpec& spec) {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return Error(ErrorCode::kUnavailable, "the relay is shutting down");
  }
  const std::vector<Peer> peers = peers_.current();
  if (peers.empty()) {
    return Error(ErrorCode::kUnavailable,
                 "no peers: --peers-dns resolved to no address (yet) and --peers gave none");
  }
  pb::StartRecording request;
  service::to_proto(spec, &request);
  request.set_format(pb::FILE_FORMAT_PCAPNG);  // the nodes keep their interfaces apart
  std::shared_ptr<ClusterRecording> cluster =
      ClusterRecording::start(peers, request, options_.deadlines);
  const auto nodes = cluster->nodes();
  if (cluster->started() == 0) {
    return Error(ErrorCode::kUnavailable, "no node started the recording: " + failed_nodes(nodes));
  }
  std::lock_guard lock(mutex_);
  const uint64_t id = next_id_++;
  Entry entry;
  entry.cluster = std::move(cluster);
  RecordingInfo& info = entry.info;
  info.id = id;
  info.filters = spec.recording.include;
  info.snap_length = spec.recording.snap_length;
  info.stop = spec.recording.stop;
  info.format = spec.format;
  info.file_prefix = spec.file_prefix;
  info.node_name = options_.node_name;
  info.start_time = std::chrono::system_clock::now();
  info.version = 1;
  refresh_locked(entry);
  for (const auto& node : nodes) {
    if (!node.error.empty()) {
      spdlog::warn("recording {}: node {} left out: {}", id, node_label(node), node.error);
    }
  }
  spdlog::info("recording {} started on {} of {} node(s)", id, entry.cluster->started(),
               nodes.size());
  auto result = info;
  entries_.emplace(id, std::move(entry));
  changed_.notify_all();
  return result;
}

void ClusterRecordings::refresh_locked(Entry& entry) {
  entry.info.nodes = entry.cluster->nodes();
  RecordingStats sum;
  for (const auto& node : entry.info.nodes) add(sum, node.stats);
  entry.info.stats = sum;
}

Result<RecordingInfo> ClusterRecordings::stop(uint64_t id, StopReason reason) {
  std::shared_ptr<ClusterRecording> cluster;
  {
    std::unique_lock lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return Error(ErrorCode::kNotFound, fmt::format("no recording with id {}", id));
    }
    if (it->second.finishing || it->second.info.state == RecordingState::kStopped) {
      changed_.wait(lock, [&] {
        auto e = entries_.find(id);
        return e == entries_.end() || e->second.info.state == RecordingState::kStopped;
      });
      auto e = entries_.find(id);
      if (e == entries_.end()) {
        return Error(ErrorCode::kNotFound, fmt::format("recording {} was deleted", id));
      }
      return e->second.info;
    }
    it->second.finishing = true;
    it->second.info.state = RecordingState::kStopping;
    it->second.info.stop_reason = reason;
    ++it->second.info.version;
    cluster = it->second.cluster;
    changed_.notify_all();
  }
  finish(id, std::move(cluster), reason);
  std::lock_guard lock(mutex_);
  return entries_.at(id).info;
}

void ClusterRecordings::finish(uint64_t id, std::shared_ptr<ClusterRecording> cluster,
                               StopReason reason) {
  cluster->stop();
  RecordingInfo info;
  {
    std::lock_guard lock(mutex_);
    info = entries_.at(id).info;
  }
  const std::string name =
      sink::recording_file_name(info.file_prefix, info.start_time, id, info.node_name, info.format);
  const std::string partial = sink::partial_file_name(name);
  auto downloads = cluster->download(options_.storage_path, partial);
  std::vector<MergeInput> inputs;
  for (const auto& d : downloads) inputs.push_back(d.second);
  auto merged = merge_captures(inputs, options_.storage_path / partial, info.format,
                               section_comment(info, cluster->nodes()));
  std::error_code ec;
  for (const auto& input : inputs) fs::remove(input.path, ec);
  std::string merge_error;
  uint64_t file_size = 0;
  if (merged) {
    for (size_t k = 0; k < downloads.size(); ++k) {
      if (!merged->inputs[k].error.empty()) {
        cluster->set_error(downloads[k].first, "merge: " + merged->inputs[k].error);
      }
    }
    fs::rename(options_.storage_path / partial, options_.storage_path / name, ec);
    if (ec) merge_error = "rename the merged file: " + ec.message();
    file_size = fs::file_size(options_.storage_path / name, ec);
  } else {
    merge_error = merged.error().message();
    fs::remove(options_.storage_path / partial, ec);
  }

  std::lock_guard lock(mutex_);
  Entry& entry = entries_.at(id);
  refresh_locked(entry);
  if (merged) {
    for (size_t k = 0; k < downloads.size(); ++k) {
      entry.info.nodes[downloads[k].first].packets_merged = merged->inputs[k].packets;
    }
  }
  RecordingInfo& out = entry.info;
  out.state = RecordingState::kStopped;
  out.stop_reason = reason;
  out.stop_time = std::chrono::system_clock::now();
  const std::string failed = failed_nodes(out.nodes);
  if (!merge_error.empty()) {
    out.stop_reason = StopReason::kWriteError;
    out.stop_message =
        "merge: " + merge_error + (failed.empty() ? "" : "; failed nodes: " + failed);
  } else {
    out.file_name = name;
    out.file_path = fs::absolute(options_.storage_path / name);
    out.file_size = file_size;
    out.stop_message = failed.empty() ? "" : "failed nodes: " + failed;
  }
  ++out.version;
  entry.finishing = false;
  if (failed.empty() && merge_error.empty()) {
    spdlog::info("recording {} stopped ({}): {} packets from {} node(s) merged into {}", id,
                 to_string(out.stop_reason), merged->packets, out.nodes.size(),
                 out.file_path.string());
  } else {
    spdlog::warn("recording {} stopped ({}): {}", id, to_string(out.stop_reason), out.stop_message);
  }
  changed_.notify_all();
}

void ClusterRecordings::request_stop(uint64_t id, StopReason reason) {
  std::lock_guard lock(mutex_);
  stop_requests_.emplace_back(id, reason);
  stop_requested_.notify_all();
}

void ClusterRecordings::finish_loop() {
  std::unique_lock lock(mutex_);
  while (!quit_) {
    stop_requested_.wait(lock, [&] { return quit_ || !stop_requests_.empty(); });
    if (quit_) break;
    auto [id, reason] = stop_requests_.front();
    stop_requests_.pop_front();
    lock.unlock();
    (void)stop(id, reason);
    lock.lock();
  }
}

void ClusterRecordings::poll_loop() {
  std::unique_lock lock(mutex_);
  while (!quit_) {
    changed_.wait_for(lock, options_.poll_interval, [&] { return quit_; });
    if (quit_) break;
    std::vector<std::pair<uint64_t, std::shared_ptr<ClusterRecording>>> running;
    for (auto& [id, entry] : entries_) {
      if (entry.info.state == RecordingState::kRunning && !entry.finishing) {
        running.emplace_back(id, entry.cluster);
      }
    }
    lock.unlock();
    for (auto& [id, cluster] : running) cluster->poll();
    lock.lock();
    for (auto& [id, cluster] : running) {
      auto it = entries_.find(id);
      if (it == entries_.end() || it->second.finishing) continue;
      refresh_locked(it->second);
      if (cluster->all_stopped()) {
        // Every node stopped on its own (its stop condition): finish with the first reason.
        StopReason reason = StopReason::kRequested;
        for (const auto& node : it->second.info.nodes) {
          if (node.recording_id != 0 && node.stop_reason != StopReason::kNone) {
            reason = node.stop_reason;
            break;
          }
        }
        stop_requests_.emplace_back(id, reason);
        stop_requested_.notify_all();
      }
    }
    changed_.notify_all();
  }
}

Result<RecordingInfo> ClusterRecordings::get(uint64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return Error(ErrorCode::kNotFound, fmt::format("no recording with id {}", id));
  }
  return it->second.info;
}

service::RecordingBackend::Page ClusterRecordings::list(uint64_t after_id, size_t limit) const {
  std::lock_guard lock(mutex_);
  Page page;
  for (auto it = entries_.upper_bound(after_id); it != entries_.end(); ++it) {
    if (page.recordings.size() == limit) {
      page.more = true;
      break;
    }
    page.recordings.push_back(it->second.info);
  }
  return page;
}

bool ClusterRecordings::wait_for_change(uint64_t id, uint64_t seen_version,
                                        std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return service::wait_for_version_change(changed_, lock, entries_, id, seen_version, timeout);
}

Result<service::RecordingBackend::OpenFile> ClusterRecordings::open_file(uint64_t id) const {
  std::string name;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return Error(ErrorCode::kNotFound, fmt::format("recording {}: no such recording", id));
    }
    if (it->second.info.state != RecordingState::kStopped) {
      return Error(ErrorCode::kFailedPrecondition,
                   fmt::format("recording {} is {}: its file is complete only once it has stopped",
                               id, to_string(it->second.info.state)));
    }
    if (it->second.info.file_name.empty()) {
      return Error(ErrorCode::kNotFound, fmt::format("recording {} has no merged file: {}", id,
                                                     it->second.info.stop_message));
    }
    name = it->second.info.file_name;
  }
  auto fd = dir_.open_file(name, O_RDONLY);
  if (!fd) return std::move(fd).error().wrap(fmt::format("recording {}", id));
  return OpenFile{std::move(*fd), name};
}

Status ClusterRecordings::remove(uint64_t id) {
  std::shared_ptr<ClusterRecording> cluster;
  std::string name;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return Error(ErrorCode::kNotFound, fmt::format("no recording with id {}", id));
    }
    if (it->second.info.state != RecordingState::kStopped) {
      return Error(ErrorCode::kFailedPrecondition,
                   fmt::format("recording {} is still running: stop it first", id));
    }
    cluster = it->second.cluster;
    name = it->second.info.file_name;
    entries_.erase(it);
    changed_.notify_all();
  }
  if (!name.empty()) {
    if (auto s = dir_.unlink(name); !s && s.error().code() != ErrorCode::kNotFound) return s;
  }
  cluster->remove_on_nodes();
  return ok_status();
}

void ClusterRecordings::shutdown() {
  std::vector<uint64_t> running;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return;
    shutting_down_ = true;
    for (const auto& [id, entry] : entries_) {
      if (entry.info.state != RecordingState::kStopped) running.push_back(id);
    }
  }
  for (uint64_t id : running) (void)stop(id, StopReason::kShutdown);
}

}  // namespace recorder::relay
