#include "relay/cluster_recordings.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

#include "service/convert.h"
#include "service/recording_metadata.h"
#include "service/ring_flags.h"
#include "sink/file_naming.h"
#include "storage/directory.h"

namespace recorder::relay {
namespace fs = std::filesystem;
using service::RecordingInfo;
using service::RecordingState;

namespace {

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

// The merged file's section comment: what was recorded (`what`), where.
std::string section_comment(const std::string& what, const RecordingInfo& info,
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
  return fmt::format("pcap-recorder {} by relay {}; filters: {}; nodes: {}", what, info.node_name,
                     filters.empty() ? "all packets" : filters, names);
}

// RFC 3339 in UTC with nanoseconds.
std::string time_text(uint64_t ns) {
  const auto seconds = static_cast<time_t>(ns / 1000000000u);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns % 1000000000u);
}

}  // namespace

ClusterRecordings::ClusterRecordings(RelayOptions options, PeerSet& peers,
                                     std::unique_ptr<service::RecordingStore> store)
    : options_(std::move(options)), peers_(peers), store_(std::move(store)) {}

Result<std::unique_ptr<ClusterRecordings>> ClusterRecordings::create(RelayOptions options,
                                                                     PeerSet& peers) {
  auto store = service::RecordingStore::open(options.storage_path);
  if (!store) return std::move(store).error().wrap("--storage-path");
  std::unique_ptr<ClusterRecordings> relay(
      new ClusterRecordings(std::move(options), peers, std::move(*store)));
  relay->store_->remove_stale_reservations();
  relay->load();
  relay->poller_ = std::thread([r = relay.get()] { r->poll_loop(); });
  relay->finisher_ = std::thread([r = relay.get()] { r->finish_loop(); });
  return relay;
}

void ClusterRecordings::load() {
  auto names = store_->names();
  if (!names) {
    spdlog::warn("read the relay's recordings in {}: {}", store_->path().string(),
                 names.error().message());
    return;
  }
  const std::vector<Peer> peers = peers_.current();
  std::lock_guard lock(mutex_);
  for (const auto& name : *names) {
    // Ids continue above every file already there, so no name is ever reused.
    if (auto file = sink::parse_recording_file_name(name)) {
      next_id_ = std::max(next_id_, file->id + 1);
    }
    // ".<merged file>.json": one recording.
    constexpr std::string_view kSuffix = ".json";
    if (name.size() <= 1 + kSuffix.size() || name[0] != '.' || !name.ends_with(kSuffix)) continue;
    const std::string file = name.substr(1, name.size() - 1 - kSuffix.size());
    auto parsed = sink::parse_recording_file_name(file);
    if (!parsed) continue;
    RecordingInfo info;
    info.id = parsed->id;
    info.file_prefix = parsed->prefix;
    info.node_name = parsed->node;
    info.format = parsed->format;
    info.start_time = parsed->start;
    auto text = store_->read_metadata(file);
    Status loaded = text ? service::from_metadata_json(*text, info) : Status(text.error());
    if (!loaded) {
      spdlog::warn("ignoring recording {} in {}: {}", info.id, store_->path().string(),
                   loaded.error().message());
      continue;
    }
    next_id_ = std::max(next_id_, info.id + 1);
    info.file_name.clear();
    info.file_path.clear();
    info.file_size = 0;
    if (auto size = store_->file_size(file)) {
      info.file_name = file;
      info.file_path = store_->path() / file;
      info.file_size = *size;
    }
    info.version = 1;
    Entry entry;
    entry.name = file;
    entry.what = fmt::format("cluster recording {}", info.id);
    entry.cluster = ClusterRecording::attach(peers, info.nodes, options_.deadlines);
    if (info.state != RecordingState::kStopped) {
      // It ran (or was being merged) when the relay died: finish it now.
      entry.note =
          "interrupted: the relay stopped while this recording ran; stopped on the nodes and "
          "merged at the relay's restart";
      entry.what += " (interrupted by the relay's restart)";
      info.state = RecordingState::kRunning;
      info.file_name.clear();
      info.file_path.clear();
      spdlog::warn("recording {} was running when the relay stopped: finishing it", info.id);
      stop_requests_.emplace_back(info.id, StopReason::kShutdown);
    }
    entry.info = std::move(info);
    entries_.emplace(entry.info.id, std::move(entry));
  }
  if (!entries_.empty()) {
    spdlog::info("found {} recordings in {}", entries_.size(), store_->path().string());
  }
}

void ClusterRecordings::persist(RecordingInfo info, const std::string& name) const {
  info.file_name = name;  // the metadata's key, also before the merged file exists
  service::MetadataSlot slot;
  if (auto s = store_->save(info, slot); !s) {
    store_->discard(slot);
    spdlog::warn(
        "recording {}: its metadata could not be written, a restart of the relay will "
        "not know it: {}",
        info.id, s.error().message());
  }
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

Result<std::vector<Peer>> ClusterRecordings::peers_to_ask() {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return Error(ErrorCode::kUnavailable, "the relay is shutting down");
  }
  std::vector<Peer> peers = peers_.current();
  if (peers.empty()) {
    return Error(ErrorCode::kUnavailable,
                 "no peers: --peers-dns resolved to no address (yet) and --peers gave none");
  }
  return peers;
}

Result<RecordingInfo> ClusterRecordings::start(const service::StartSpec& spec) {
  auto live = peers_to_ask();
  if (!live) return std::move(live).error();
  const std::vector<Peer> peers = std::move(*live);
  pb::StartRecording request;
  service::to_proto(spec, &request);
  request.set_format(pb::FILE_FORMAT_PCAPNG);  // the nodes keep their interfaces apart
  std::shared_ptr<ClusterRecording> cluster =
      ClusterRecording::start(peers, request, options_.deadlines);
  const auto nodes = cluster->nodes();
  if (cluster->started() == 0) {
    return Error(ErrorCode::kUnavailable, "no node started the recording: " + failed_nodes(nodes));
  }
  std::unique_lock lock(mutex_);
  const uint64_t id = next_id_++;
  Entry entry;
  entry.cluster = std::move(cluster);
  entry.what = fmt::format("cluster recording {}", id);
  RecordingInfo& info = entry.info;
  info = service::started_recording(id, spec, options_.node_name);
  info.version = 1;
  refresh_locked(entry);
  for (const auto& node : nodes) {
    if (!node.error.empty()) {
      spdlog::warn("recording {}: node {} left out: {}", id, node_label(node), node.error);
    }
  }
  spdlog::info("recording {} started on {} of {} node(s)", id, entry.cluster->started(),
               nodes.size());
  entry.name =
      sink::recording_file_name(info.file_prefix, info.start_time, id, info.node_name, info.format);
  auto result = info;
  const std::string name = entry.name;
  entries_.emplace(id, std::move(entry));
  changed_.notify_all();
  lock.unlock();
  persist(result, name);
  return result;
}

void ClusterRecordings::refresh_locked(Entry& entry) {
  entry.info.nodes = entry.cluster->nodes();
  RecordingStats sum;
  for (const auto& node : entry.info.nodes) sum += node.stats;
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
  std::string what, name;
  {
    std::lock_guard lock(mutex_);
    info = entries_.at(id).info;
    what = entries_.at(id).what;
    name = entries_.at(id).name;
  }
  const std::string partial = sink::partial_file_name(name);
  auto downloads = cluster->download(options_.storage_path, partial);
  std::vector<MergeInput> inputs;
  for (const auto& d : downloads) inputs.push_back(d.second);
  auto merged = merge_captures(inputs, options_.storage_path / partial, info.format,
                               section_comment(what, info, cluster->nodes()));
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

  std::unique_lock lock(mutex_);
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
    out.file_path = store_->path() / name;
    out.file_size = file_size;
    out.stop_message = failed.empty() ? "" : "failed nodes: " + failed;
  }
  if (!entry.note.empty()) {
    out.stop_message = entry.note + (out.stop_message.empty() ? "" : "; " + out.stop_message);
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
  const RecordingInfo final_info = out;
  lock.unlock();
  // Written before waiters learn of the stop: a recording reported stopped survives a restart.
  persist(final_info, name);
  lock.lock();
  changed_.notify_all();
}

Result<ClusterRecordings::Snapshot> ClusterRecordings::snapshot(
    const ring::SnapshotRequest& query) {
  auto live = peers_to_ask();
  if (!live) return std::move(live).error();
  const std::vector<Peer> peers = std::move(*live);
  // Every node cuts the same range: `last` was turned into from/to here, by the relay's clock.
  pb::SnapshotRequest request;
  request.set_name(query.name);
  if (query.from_ns != 0) {
    service::to_proto_timestamp(query.from_ns, request.mutable_from());
  }
  if (query.to_ns != UINT64_MAX) {
    service::to_proto_timestamp(query.to_ns, request.mutable_to());
  }
  for (const auto& f : query.filters) service::to_proto_filter(f, request.add_include());

  Snapshot result;
  std::shared_ptr<ClusterRecording> cluster =
      ClusterRecording::snapshot(peers, request, result.cost, options_.deadlines);
  const auto nodes = cluster->nodes();
  if (cluster->started() == 0) {
    const auto all_say = [&](std::initializer_list<std::string_view> codes) {
      return std::all_of(nodes.begin(), nodes.end(), [&](const auto& node) {
        return std::any_of(codes.begin(), codes.end(), [&](std::string_view code) {
          return node.error.find(code) != std::string::npos;
        });
      });
    };
    const ErrorCode code = all_say({"NOT_FOUND"})                   ? ErrorCode::kNotFound
                           : all_say({"NOT_FOUND", "OUT_OF_RANGE"}) ? ErrorCode::kOutOfRange
                                                                    : ErrorCode::kUnavailable;
    return Error(code, fmt::format("no node took a snapshot of ring {}: {}", query.name,
                                   failed_nodes(nodes)));
  }
  uint64_t id = 0;
  RecordingInfo started;
  std::string name;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    Entry entry;
    entry.cluster = cluster;
    entry.finishing = true;
    entry.what = fmt::format("snapshot of ring {} from {} to {} as recording {}", query.name,
                             query.from_ns == 0 ? "its oldest packet" : time_text(query.from_ns),
                             query.to_ns == UINT64_MAX ? "its newest" : time_text(query.to_ns), id);
    RecordingInfo& info = entry.info;
    info.id = id;
    info.state = RecordingState::kStopping;
    info.filters = query.filters;
    info.format = sink::FileFormat::kPcapng;  // one interface block per node and interface
    info.file_prefix = query.name;
    info.node_name = options_.node_name;
    info.start_time = std::chrono::system_clock::now();
    info.version = 1;
    refresh_locked(entry);
    entry.name = sink::recording_file_name(info.file_prefix, info.start_time, id, info.node_name,
                                           info.format);
    started = info;
    name = entry.name;
    entries_.emplace(id, std::move(entry));
    changed_.notify_all();
  }
  persist(started, name);  // outside the lock: it syncs the disk
  finish(id, std::move(cluster), StopReason::kSourceEnded);
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return Error(ErrorCode::kNotFound, fmt::format("snapshot recording {} was deleted", id));
  }
  result.info = it->second.info;
  return result;
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

Result<RecordingInfo> ClusterRecordings::get(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return Error(ErrorCode::kNotFound, fmt::format("no recording with id {}", id));
  }
  return it->second.info;
}

service::RecordingBackend::Page ClusterRecordings::list(uint64_t after_id, size_t limit) {
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
  auto fd = store_->open_for_reading(name);
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
    name = it->second.name;
    entries_.erase(it);
    changed_.notify_all();
  }
  // The merged file and its metadata (the node files go even when these could not).
  const Status removed = store_->remove(name);
  cluster->remove_on_nodes();
  if (!removed) return removed;
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
