#include "service/recording_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "service/registry_rebuild.h"
#include "sink/file_naming.h"

namespace recorder::service {
namespace fs = std::filesystem;

namespace {
// How often the control thread retries metadata writes that failed.
constexpr std::chrono::milliseconds kMetadataRetry{1000};
// Free space above --min-free-disk that a start needs (its metadata and a first write).
constexpr uint64_t kStartHeadroom = 256u << 10;
}  // namespace

RecordingManager::RecordingManager(ManagerOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<RecordingManager>> RecordingManager::create(ManagerOptions options) {
  std::unique_ptr<RecordingManager> manager(new RecordingManager(std::move(options)));
  if (auto s = manager->init(); !s) return std::move(s).error();
  return manager;
}

Status RecordingManager::init() {
  auto store = RecordingStore::open(options_.storage_path, options_.permissions);
  if (!store) return std::move(store).error();
  store_ = std::move(*store);
  if (options_.recover_partial_files) {
    for (const auto& line : options_.recover_partial_files(store_->path())) {
      spdlog::info("{}", line);
    }
  }
  if (size_t stale = store_->remove_stale_reservations(); stale > 0) {
    spdlog::info("removed {} metadata reservations left by an earlier run", stale);
  }
  for (auto& info : rebuild_registry(*store_)) {
    next_id_ = std::max(next_id_, info.id + 1);
    const uint64_t id = info.id;
    Entry entry;
    entry.info = std::move(info);
    entries_.emplace(id, std::move(entry));
  }

  sink::WriterPool::Options pool;
  pool.threads = std::max(1u, options_.writer_threads);
  pool.use_io_uring = options_.use_io_uring;
  pool.drain_timeout = options_.write_timeout;
  pool.direct_io = options_.direct_io;
  pool.total_queue_bytes = options_.limits.queue_memory;
  pool.min_free_disk = options_.limits.min_free_disk;  // the writers keep the floor
  auto writers = sink::WriterPool::create(pool);
  if (!writers) return writers.error().wrap("create the writer pool");
  writers_ = std::move(*writers);
  spdlog::info("writer backend: {}", writers_->backend());

  router_ = std::make_unique<Router>(dispatcher_, options_.kernel_rules);
  auto wake = Wakeup::create();
  if (!wake) return wake.error().wrap("create the control thread's wakeup");
  control_wake_.emplace(std::move(*wake));
  control_ = std::thread([this] { control_loop(); });
  return ok_status();
}

RecordingManager::~RecordingManager() {
  shutdown();
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  if (control_wake_) control_wake_->notify();
  if (control_.joinable()) control_.join();
  retry_metadata();
  for (auto& [id, pending] : pending_metadata_) {
    spdlog::error(
        "recording {}: metadata not written, given up at exit (the file is kept; after "
        "a restart it is recounted)",
        id);
    store_->discard(pending.slot);
  }
}

PacketConsumer& RecordingManager::consumer() { return dispatcher_; }

std::string RecordingManager::writer_backend() const {
  return writers_ ? writers_->backend() : std::string("none");
}

Result<RecordingInfo> RecordingManager::start(const StartSpec& spec) {
  std::lock_guard start_lock(start_mutex_);
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return Error(ErrorCode::kUnavailable, "the daemon is shutting down");
    size_t running = 0;
    for (const auto& [_, e] : entries_) running += e.info.state != RecordingState::kStopped;
    if (running >= options_.limits.max_recordings) {
      return Error(ErrorCode::kResourceExhausted,
                   fmt::format("start recording: {} recordings are running, the limit is {}",
                               running, options_.limits.max_recordings));
    }
    id = next_id_++;
  }
  if (options_.limits.min_free_disk > 0) {
    auto free = store_->free_bytes();
    if (!free) return free.error();
    // The writers stop a recording at the floor: a start needs some room above it.
    if (*free < options_.limits.min_free_disk + kStartHeadroom) {
      return Error(ErrorCode::kResourceExhausted,
                   fmt::format("start recording: storage {} has {} bytes free, less than {} "
                               "above the minimum of {} (--min-free-disk)",
                               store_->path().string(), *free, kStartHeadroom,
                               options_.limits.min_free_disk));
    }
  }

  auto opened = open_recording(id, spec);
  if (!opened) return std::move(opened).error().wrap(fmt::format("start recording {}", id));
  const RecordingInfo& info = opened->info;

  auto recording = std::make_shared<Recording>(id, spec.recording, std::move(opened->sink));
  recording->notify_limit_to(&*control_wake_);
  if (auto s = router_->add(recording); !s) {
    // Close the (empty) file and remove it: a start that failed leaves nothing behind.
    auto closed = recording->finish();
    if (closed) {
      std::error_code ec;
      fs::remove(closed->path, ec);
    }
    store_->discard(opened->metadata);
    return s.error().wrap(fmt::format("start recording {}", id));
  }

  Entry entry;
  entry.info = info;
  entry.recording = recording;
  entry.metadata = std::move(opened->metadata);
  entry.started = std::chrono::steady_clock::now();
  entry.saw_interfaces =
      options_.attached_interface_count && options_.attached_interface_count() > 0;
  {
    std::lock_guard lock(mutex_);
    entry.info.version = 1;
    entries_.emplace(id, std::move(entry));
  }
  changed_.notify_all();
  control_wake_->notify();  // its duration is a new deadline
  std::string filters;
  for (const auto& f : info.filters) filters += (filters.empty() ? "" : "; ") + to_string(f);
  spdlog::info(
      "recording {} started: file {}, filters [{}], snap length {}, stop after "
      "{} packets / {} bytes / {} ms (0 = no limit)",
      id, info.file_name, filters, info.snap_length, info.stop.packets, info.stop.bytes,
      std::chrono::duration_cast<std::chrono::milliseconds>(info.stop.duration).count());
  return info;
}

Result<RecordingManager::OpenedRecording> RecordingManager::open_recording(uint64_t id,
                                                                           const StartSpec& spec) {
  OpenedRecording opened;
  RecordingInfo& info = opened.info;
  info = started_recording(id, spec, options_.node_name);
  info.file_name = sink::recording_file_name(spec.file_prefix, info.start_time, id,
                                             options_.node_name, spec.format);

  // Reserved now, so a disk that fills up while the recording runs cannot starve its metadata.
  auto metadata = store_->reserve_metadata(info);
  if (!metadata) return std::move(metadata).error();

  sink::SinkOptions sink_options;
  sink_options.path = store_->path() / info.file_name;
  sink_options.permissions = options_.permissions;
  sink_options.format = spec.format;
  sink_options.snap_length = spec.recording.snap_length;
  sink_options.queue_bytes = options_.limits.queue_bytes_per_recording;
  sink_options.on_failure = &*control_wake_;  // a failed sink stops its recording at once
  auto sink = sink::Sink::open(*writers_, sink_options);
  if (!sink) {
    store_->discard(*metadata);
    return std::move(sink).error();
  }
  opened.metadata = std::move(*metadata);
  opened.sink = std::move(*sink);
  return opened;
}

RecordingInfo RecordingManager::snapshot_locked(const Entry& entry) const {
  RecordingInfo info = entry.info;
  if (entry.recording && info.state != RecordingState::kStopped) {
    info.stats = entry.recording->stats();
    // Kernel losses are added to the recording (absorb_kernel_losses) while it runs; its own
    // counters include them.
  }
  return info;
}

Result<RecordingInfo> RecordingManager::stop(uint64_t id, StopReason reason) {
  std::shared_ptr<Recording> recording;
  {
    std::unique_lock lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return Error(ErrorCode::kNotFound, fmt::format("stop recording {}: no such recording", id));
    }
    if (it->second.info.state != RecordingState::kRunning) {
      // Someone else stops it (or did): wait for the final state.
      changed_.wait(lock, [&] {
        auto e = entries_.find(id);
        return e == entries_.end() || e->second.info.state == RecordingState::kStopped;
      });
      auto e = entries_.find(id);
      if (e == entries_.end()) {
        return Error(ErrorCode::kNotFound, fmt::format("stop recording {}: deleted", id));
      }
      return snapshot_locked(e->second);
    }
    it->second.info.state = RecordingState::kStopping;
    it->second.info.stop_reason = reason;
    ++it->second.info.version;
    recording = it->second.recording;
  }
  changed_.notify_all();

  // From here on no packet can reach the recording, so finishing it (drain + close) is safe.
  router_->remove(id);
  // Its rules are gone (past a grace period), so their kernel losses are final now.
  absorb_kernel_losses();
  auto result = recording->finish();

  RecordingInfo final_info;
  MetadataSlot metadata;
  {
    std::lock_guard lock(mutex_);
    Entry& entry = entries_.at(id);
    RecordingInfo& info = entry.info;
    info.stats = recording->stats();
    info.stop_time = std::chrono::system_clock::now();
    if (result) {
      info.file_path = result->path;
      info.file_name = result->path.filename().string();
      info.file_size = result->file_bytes;
      if (result->write_error) info.stop_message = result->write_error->message();
      // The disk did not complete the writes in time: whatever stop was asked for, the
      // recording ended on a write error.
      if (result->abandoned) info.stop_reason = StopReason::kWriteError;
    } else {
      info.stop_message = result.error().message();
    }
    info.state = RecordingState::kStopped;
    ++info.version;
    // The finished file takes over from the live count in write_activity(), in the same step,
    // so the total never goes back (the file holds at least what was written).
    finished_written_bytes_ +=
        std::max(recording->sink_progress().written_bytes, result ? result->file_bytes : 0);
    entry.recording.reset();
    metadata = std::move(entry.metadata);
    final_info = info;
    retention_due_ = true;
  }
  if (options_.retention.enabled()) control_wake_->notify();
  if (result && result->abandoned) {
    // Writing the metadata would hang on the same disk; the partial file is repaired at the
    // next start, and the reservation left behind is removed then too.
  } else if (result) {
    save_metadata(final_info, std::move(metadata));
  } else {
    store_->discard(metadata);  // no file, nothing to describe
  }
  changed_.notify_all();
  spdlog::info(
      "recording {} stopped ({}{}{}): {} packets / {} bytes captured, {} packets lost "
      "(kernel {}, queue {}, write {}), file {} ({} bytes)",
      id, to_string(final_info.stop_reason), final_info.stop_message.empty() ? "" : ": ",
      final_info.stop_message, final_info.stats.packets_captured, final_info.stats.bytes_captured,
      final_info.stats.packets_lost(), final_info.stats.packets_lost_kernel,
      final_info.stats.packets_lost_queue, final_info.stats.packets_lost_write,
      final_info.file_path.string(), final_info.file_size);
  return final_info;
}

void RecordingManager::request_stop(uint64_t id, StopReason reason) {
  {
    std::lock_guard lock(mutex_);
    stop_requests_.emplace_back(id, reason);
  }
  control_wake_->notify();
}

void RecordingManager::interfaces_changed() { control_wake_->notify(); }

void RecordingManager::absorb_kernel_losses() {
  if (!options_.take_kernel_losses) return;
  std::lock_guard losses_lock(losses_mutex_);
  const std::vector<KernelLossEntry> losses = options_.take_kernel_losses();
  if (losses.empty()) return;
  std::lock_guard lock(mutex_);
  for (const auto& loss : losses) {
    auto it = entries_.find(loss.recording_id);
    if (it == entries_.end()) {
      if (auto a = attached_.find(loss.recording_id); a != attached_.end()) {
        a->second->add_kernel_loss(loss.packets, loss.bytes);
      }
      continue;
    }
    if (it->second.recording) {
      it->second.recording->add_kernel_loss(loss.packets, loss.bytes);
    } else {
      // Reported after the recording finished: still count it against the recording.
      it->second.info.stats.packets_lost_kernel += loss.packets;
      it->second.info.stats.bytes_lost_kernel += loss.bytes;
    }
  }
}

void RecordingManager::stop_all(StopReason reason) {
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, e] : entries_) {
      if (e.info.state != RecordingState::kStopped) ids.push_back(id);
    }
  }
  for (uint64_t id : ids) (void)stop(id, reason);
}

void RecordingManager::shutdown() {
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  // Take start_mutex_ so a start() in flight finishes (and is then stopped) before we look.
  { std::lock_guard start_lock(start_mutex_); }
  stop_all(StopReason::kShutdown);
}

Result<RecordingInfo> RecordingManager::get(uint64_t id) {
  absorb_kernel_losses();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return Error(ErrorCode::kNotFound, fmt::format("recording {}: no such recording", id));
  }
  return snapshot_locked(it->second);
}

RecordingManager::Page RecordingManager::list(uint64_t after_id, size_t limit) {
  absorb_kernel_losses();
  std::lock_guard lock(mutex_);
  Page page;
  auto it = entries_.upper_bound(after_id);
  for (; it != entries_.end() && page.recordings.size() < limit; ++it) {
    page.recordings.push_back(snapshot_locked(it->second));
  }
  page.more = it != entries_.end();
  return page;
}

RecordingManager::WriteActivity RecordingManager::write_activity() const {
  std::lock_guard lock(mutex_);
  WriteActivity activity;
  activity.written_bytes = finished_written_bytes_;
  for (const auto& [id, e] : entries_) {
    if (!e.recording) continue;
    const sink::SinkProgress p = e.recording->sink_progress();
    activity.written_bytes += p.written_bytes;
    activity.queues.push_back({id, e.info.file_name, p.queued_bytes, p.queue_capacity_bytes});
  }
  return activity;
}

size_t RecordingManager::running_count() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [_, e] : entries_) n += e.info.state != RecordingState::kStopped;
  return n;
}

bool RecordingManager::wait_for_change(uint64_t id, uint64_t seen_version,
                                       std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return wait_for_version_change(changed_, lock, entries_, id, seen_version, timeout);
}

Result<RecordingManager::OpenFile> RecordingManager::open_file(uint64_t id) const {
  RecordingInfo info;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return Error(ErrorCode::kNotFound, fmt::format("recording {}: no such recording", id));
    }
    info = it->second.info;
  }
  if (info.state != RecordingState::kStopped) {
    return Error(ErrorCode::kFailedPrecondition,
                 fmt::format("recording {} is {}: its file is complete only once it has stopped",
                             id, to_string(info.state)));
  }
  if (info.file_name.empty()) {
    return Error(ErrorCode::kNotFound, fmt::format("recording {} has no file", id));
  }
  auto fd = store_->open_for_reading(info.file_name);
  if (!fd) return std::move(fd).error().wrap(fmt::format("recording {}", id));
  return OpenFile{std::move(*fd), info.file_name};
}

Status RecordingManager::remove(uint64_t id) {
  // open_file() refuses a file that is not what the recording wrote (a link planted in its
  // place); a recording whose file vanished may still be forgotten.
  auto file = open_file(id);
  if (!file && file.error().code() != ErrorCode::kNotFound) return file.error().wrap("delete");
  auto name = forget(id);
  if (!name) return std::move(name).error().wrap("delete");
  spdlog::info("recording {} deleted ({})", id, *name);
  return ok_status();
}

Result<std::string> RecordingManager::forget(uint64_t id) {
  std::string name;
  MetadataSlot pending;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return Error(ErrorCode::kNotFound, fmt::format("recording {}: no such recording", id));
    }
    name = it->second.info.file_name;
    if (auto p = pending_metadata_.find(id); p != pending_metadata_.end()) {
      pending = std::move(p->second.slot);
      pending_metadata_.erase(p);
    }
  }
  store_->discard(pending);
  if (!name.empty()) {
    if (auto s = store_->remove(name); !s) {
      return std::move(s).error().wrap(fmt::format("recording {}", id));
    }
  }
  {
    std::lock_guard lock(mutex_);
    entries_.erase(id);
  }
  changed_.notify_all();
  return name;
}

uint64_t RecordingManager::allocate_id() {
  std::lock_guard lock(mutex_);
  return next_id_++;
}

Status RecordingManager::attach(std::shared_ptr<Recording> recording) {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return Error(ErrorCode::kUnavailable, "the daemon is shutting down");
  }
  if (auto s = router_->add(recording); !s) return s;
  std::lock_guard lock(mutex_);
  attached_.emplace(recording->id(), std::move(recording));
  return ok_status();
}

void RecordingManager::detach(uint64_t recording_id) {
  router_->remove(recording_id);
  // Its rules are gone (past a grace period), so its kernel losses are final now.
  absorb_kernel_losses();
  std::lock_guard lock(mutex_);
  attached_.erase(recording_id);
}

Result<RecordingInfo> RecordingManager::record_from(
    const StartSpec& spec, const std::function<Status(const Append&)>& produce) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return Error(ErrorCode::kUnavailable, "the daemon is shutting down");
    id = next_id_++;
  }
  auto opened = open_recording(id, spec);
  if (!opened) return std::move(opened).error().wrap(fmt::format("recording {}", id));
  RecordingInfo& info = opened->info;
  auto& metadata = opened->metadata;
  sink::Sink& out = *opened->sink;
  const Append append = [&out](const CapturedPacket& packet) -> Status {
    for (;;) {
      switch (out.try_append(packet)) {
        case sink::AppendResult::kAppended:
          return ok_status();
        case sink::AppendResult::kQueueFull:  // the writer is behind: this producer may wait
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          break;
        case sink::AppendResult::kFailed:
          return Error::from_errno("write the recording", out.failure_errno());
      }
    }
  };
  Status produced = produce(append);
  auto closed = out.close(0);
  if (!produced || !closed || closed->write_error) {
    if (closed && !closed->path.empty()) (void)store_->remove(info.file_name);
    store_->discard(metadata);
    if (!produced) return std::move(produced).error();
    if (!closed) return std::move(closed).error().wrap(fmt::format("recording {}", info.id));
    return closed->write_error->wrap(fmt::format("recording {}", info.id));
  }
  info.state = RecordingState::kStopped;
  info.stop_reason = StopReason::kSourceEnded;
  info.stop_time = std::chrono::system_clock::now();
  info.stats.packets_captured = closed->packets_written;
  info.stats.bytes_captured = closed->bytes_written;
  info.file_path = closed->path;
  info.file_name = closed->path.filename().string();
  info.file_size = closed->file_bytes;
  info.version = 1;
  {
    std::lock_guard lock(mutex_);
    Entry entry;
    entry.info = info;
    entries_.emplace(info.id, std::move(entry));
    retention_due_ = true;
  }
  save_metadata(info, std::move(metadata));
  changed_.notify_all();
  spdlog::info("recording {} written from {}: {} packets / {} bytes, file {} ({} bytes)", info.id,
               spec.file_prefix, info.stats.packets_captured, info.stats.bytes_captured,
               info.file_path.string(), info.file_size);
  return info;
}

void RecordingManager::save_metadata(RecordingInfo info, MetadataSlot slot, unsigned attempts) {
  const uint64_t id = info.id;
  auto saved = store_->save(info, slot);
  ++attempts;
  if (saved) {
    if (attempts > 1) {
      spdlog::info("recording {}: metadata written at attempt {}", id, attempts);
    }
    return;
  }
  // Logged the first time and then every tenth attempt, so a lasting failure does not flood.
  if (attempts == 1 || attempts % 10 == 0) {
    spdlog::error("recording {}: {} (attempt {}; retried every {} ms)", id, saved.error().message(),
                  attempts, kMetadataRetry.count());
  }
  {
    std::lock_guard lock(mutex_);
    if (entries_.count(id) == 0) {  // deleted meanwhile
      store_->discard(slot);
      return;
    }
    if (pending_metadata_.empty()) last_metadata_retry_ = std::chrono::steady_clock::now();
    pending_metadata_[id] = PendingMetadata{std::move(info), std::move(slot), attempts};
  }
  if (control_wake_) control_wake_->notify();  // a retry deadline now exists
}

void RecordingManager::retry_metadata() {
  std::map<uint64_t, PendingMetadata> pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(pending_metadata_);
  }
  for (auto& [id, p] : pending) save_metadata(std::move(p.info), std::move(p.slot), p.attempts);
}

void RecordingManager::apply_retention() {
  std::vector<FinishedRecording> finished;
  {
    std::lock_guard lock(mutex_);
    retention_due_ = false;
    finished.reserve(entries_.size());
    for (const auto& [id, e] : entries_) {
      if (e.info.state == RecordingState::kStopped) {
        finished.push_back({id, e.info.stop_time, e.info.file_size});
      }
    }
  }
  const auto expired =
      select_expired(std::move(finished), options_.retention, std::chrono::system_clock::now());
  for (const auto& e : expired) {
    auto name = forget(e.id);
    if (name) {
      spdlog::info("retention: deleted recording {} ({}): {}", e.id, *name, e.reason);
    } else if (name.error().code() != ErrorCode::kNotFound) {  // not deleted meanwhile
      spdlog::warn("retention: delete {}", name.error().message());
    }
  }
}

std::optional<std::chrono::steady_clock::time_point> RecordingManager::next_deadline_locked(
    std::chrono::steady_clock::time_point now) const {
  using Steady = std::chrono::steady_clock;
  std::optional<Steady::time_point> next;
  auto consider = [&](Steady::time_point t) { next = next ? std::min(*next, t) : t; };
  for (const auto& [id, e] : entries_) {
    if (e.info.state == RecordingState::kRunning && e.info.stop.duration.count() > 0) {
      consider(e.started + std::chrono::duration_cast<Steady::duration>(e.info.stop.duration));
    }
  }
  if (!pending_metadata_.empty()) consider(last_metadata_retry_ + kMetadataRetry);
  if (auto retention = next_retention_locked(now)) consider(*retention);
  return next;
}

std::optional<std::chrono::steady_clock::time_point> RecordingManager::next_retention_locked(
    std::chrono::steady_clock::time_point now) const {
  using Steady = std::chrono::steady_clock;
  if (!options_.retention.enabled()) return std::nullopt;
  if (retention_due_) return now;
  if (options_.retention.max_age.count() == 0) return std::nullopt;
  // The oldest finished recording's expiry, in the steady clock (a wall-clock step only makes
  // this look early or late; retention itself decides by the wall clock).
  std::optional<Steady::time_point> next;
  const auto wall_now = std::chrono::system_clock::now();
  for (const auto& [id, e] : entries_) {
    if (e.info.state != RecordingState::kStopped) continue;
    const auto left = std::max(std::chrono::duration_cast<Steady::duration>(
                                   e.info.stop_time + options_.retention.max_age - wall_now),
                               Steady::duration::zero());
    next = next ? std::min(*next, now + left) : now + left;
  }
  return next;
}

void RecordingManager::control_loop() {
  std::unique_lock lock(mutex_);
  last_metadata_retry_ = std::chrono::steady_clock::now();
  while (!quit_) {
    const auto deadline = next_deadline_locked(std::chrono::steady_clock::now());
    lock.unlock();
    control_wake_->wait(deadline);
    const size_t interfaces =
        options_.attached_interface_count ? options_.attached_interface_count() : 1;
    lock.lock();
    if (quit_) break;
    std::vector<std::pair<uint64_t, StopReason>> to_stop;
    to_stop.swap(stop_requests_);
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, e] : entries_) {
      if (e.info.state != RecordingState::kRunning || !e.recording) continue;
      if (interfaces > 0) e.saw_interfaces = true;
      StopReason reason = e.recording->pending_stop();
      if (reason == StopReason::kNone && e.info.stop.duration.count() > 0 &&
          now - e.started >= e.info.stop.duration) {
        reason = StopReason::kTimeLimit;
      }
      if (reason == StopReason::kNone && interfaces == 0 && e.saw_interfaces) {
        reason = StopReason::kInterfaceGone;
      }
      if (reason != StopReason::kNone) to_stop.emplace_back(id, reason);
    }
    const bool metadata_due =
        !pending_metadata_.empty() && now - last_metadata_retry_ >= kMetadataRetry;
    if (metadata_due) last_metadata_retry_ = now;
    const auto retention = next_retention_locked(now);
    const bool retention_due = retention && *retention <= now;
    lock.unlock();
    for (const auto& [id, reason] : to_stop) (void)stop(id, reason);
    if (metadata_due) retry_metadata();
    if (retention_due) apply_retention();
    lock.lock();
  }
}

}  // namespace recorder::service
