#include "ring/ring_manager.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/wall_clock.h"

namespace recorder::ring {
namespace fs = std::filesystem;

namespace {

std::string rfc3339(uint64_t ns) {
  const auto seconds = static_cast<time_t>(ns / 1000000000u);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09}Z", buf, ns % 1000000000u);
}

Result<std::string> read_small_file(const storage::Directory& dir, std::string_view name) {
  auto fd = dir.open_file(name, O_RDONLY);
  if (!fd) return std::move(fd).error();
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno(fmt::format("read {}", name), errno);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 20)) {
      return Error(ErrorCode::kInvalidArgument, fmt::format("{}: larger than 1 MiB", name));
    }
  }
  return text;
}

}  // namespace

RingManager::RingManager(RingManagerOptions options, RingHost& host)
    : options_(std::move(options)), host_(host) {
  options_.ring.wake = RotationWake{&RingManager::kick, this};
}

void RingManager::kick(void* manager) noexcept {
  static_cast<RingManager*>(manager)->wake_->notify();
}

Result<const storage::Directory*> RingManager::directory(bool create) {
  std::lock_guard lock(mutex_);
  if (!dir_) {
    auto dir = create ? storage::Directory::open_or_create(options_.path, options_.ring.permissions)
                      : storage::Directory::open(options_.path);
    if (!dir) return std::move(dir).error().wrap("rings");
    dir_ = std::move(*dir);
  }
  return &*dir_;
}

Result<std::unique_ptr<RingManager>> RingManager::create(RingManagerOptions options,
                                                         RingHost& host) {
  std::unique_ptr<RingManager> manager(new RingManager(std::move(options), host));
  auto wake = Wakeup::create();
  if (!wake) return std::move(wake).error().wrap("create the ring maintenance's wakeup");
  manager->wake_.emplace(std::move(*wake));
  if (auto s = manager->load(); !s) return std::move(s).error();
  manager->thread_ = std::thread([m = manager.get()] { m->maintenance_loop(); });
  manager->closer_ = std::thread([m = manager.get()] { m->closer_loop(); });
  return manager;
}

Status RingManager::load() {
  std::error_code ec;
  if (!fs::exists(options_.path, ec)) return ok_status();  // no ring yet
  auto dir = directory(false);
  if (!dir) return std::move(dir).error();
  auto names = (*dir)->list();
  if (!names) return std::move(names).error().wrap("rings");
  for (const auto& name : *names) {
    auto st = (*dir)->stat(name);
    if (!st || !S_ISDIR(st->st_mode)) continue;
    auto ring_dir = storage::Directory::open(options_.path / name);
    if (!ring_dir) continue;
    auto text = read_small_file(*ring_dir, "ring.json");
    if (!text) {
      spdlog::warn("ring directory {} left alone: {}", name, text.error().message());
      continue;
    }
    auto state = ring_state_from_json(*text);
    if (!state || state->spec.name != name) {
      spdlog::warn("ring directory {} left alone: {}", name,
                   state ? "its state names another ring" : state.error().message());
      continue;
    }
    auto ring = Ring::open(options_.path / name, state->spec, options_.ring, host_);
    if (!ring) {
      spdlog::error("{}", ring.error().message());
      continue;
    }
    std::shared_ptr<Ring> shared = std::move(*ring);
    const RingStatus s = shared->status();
    spdlog::info("ring {}: {} chunks ({} bytes) on disk", name, s.chunks, s.bytes);
    if (state->running) {
      if (auto started = shared->start(); started) {
        spdlog::info("ring {} restarted", name);
      } else {
        spdlog::error("ring {}: restart: {}", name, started.error().message());
      }
    }
    std::lock_guard lock(mutex_);
    rings_.emplace(name, std::move(shared));
  }
  return ok_status();
}

RingManager::~RingManager() {
  shutdown();
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  if (wake_) wake_->notify();
  closer_wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (closer_.joinable()) closer_.join();
}

void RingManager::shutdown() {
  std::vector<std::shared_ptr<Ring>> rings;
  {
    std::lock_guard lock(mutex_);
    for (auto& [_, ring] : rings_) rings.push_back(ring);
  }
  for (auto& ring : rings) ring->stop(false);
}

std::optional<std::chrono::steady_clock::time_point> RingManager::next_deadline() const {
  std::vector<std::shared_ptr<Ring>> rings;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, ring] : rings_) rings.push_back(ring);
  }
  std::optional<uint64_t> earliest;
  for (const auto& ring : rings) {
    if (auto e = ring->expiry_ns(); e && (!earliest || *e < *earliest)) earliest = e;
  }
  if (!earliest) return std::nullopt;
  // Wall clock to steady: a wall-clock step only makes the wake early or late; retention itself
  // decides by the wall clock.
  const uint64_t wall_now = wall_clock_ns();
  const auto left = std::chrono::nanoseconds(*earliest > wall_now ? *earliest - wall_now : 0);
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

namespace {

// The rings' background threads run below the capture thread's priority (nice 10: about a tenth
// of a contended CPU against a nice-0 thread), so that a rotation's work (closing and fsync()ing
// a full chunk, writing its index, opening the next chunk) yields to capture on a busy machine.
// Measured, those threads took 0-4 ms of the capture thread's waits at a rotation either way
// (docs/benchmarks.md): a precaution, not a proven fix.
constexpr int kBackgroundNice = 10;

void become_background(const char* name) {
  pthread_setname_np(pthread_self(), name);
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice) != 0) {
    const int err = errno;
    spdlog::warn("{}: setpriority({}): {}", name, kBackgroundNice, std::strerror(err));
  }
}

}  // namespace

void RingManager::maintenance_loop() {
  become_background("ring-maintain");
  // The first round runs at once: rings loaded at start-up may hold chunks past their age.
  while (!quit_.load()) {
    std::vector<std::shared_ptr<Ring>> rings;
    uint64_t free = UINT64_MAX;
    {
      std::lock_guard lock(mutex_);
      for (auto& [_, ring] : rings_) rings.push_back(ring);
      if (dir_) {
        if (auto f = dir_->free_bytes(); f) free = *f;
      }
    }
    bool queued = false;
    for (auto& ring : rings) queued = ring->maintain(free) || queued;
    if (queued) {
      {
        std::lock_guard lock(mutex_);
        close_pending_ = true;
      }
      closer_wake_.notify_one();
    }
    wake_->wait(next_deadline());
  }
}

void RingManager::closer_loop() {
  become_background("ring-closer");
  std::unique_lock lock(mutex_);
  while (!quit_.load()) {
    closer_wake_.wait(lock, [&] { return quit_.load() || close_pending_; });
    if (quit_.load()) break;
    close_pending_ = false;
    std::vector<std::shared_ptr<Ring>> rings;
    for (auto& [_, ring] : rings_) rings.push_back(ring);
    lock.unlock();
    size_t closed = 0;
    for (auto& ring : rings) closed += ring->close_chunks();
    // Closed chunks count against the byte budget and have an age: maintenance looks again.
    if (closed > 0) wake_->notify();
    lock.lock();
  }
}

Result<Ring*> RingManager::find(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = rings_.find(name);
  if (it == rings_.end()) {
    return Error(ErrorCode::kNotFound, fmt::format("ring {}: no such ring", name));
  }
  return it->second.get();
}

Result<RingStatus> RingManager::start(const RingSpec& spec) {
  std::shared_ptr<Ring> ring;
  {
    std::lock_guard lock(mutex_);
    auto it = rings_.find(spec.name);
    if (it != rings_.end()) {
      ring = it->second;
    } else if (rings_.size() >= options_.max_rings) {
      return Error(ErrorCode::kResourceExhausted,
                   fmt::format("start ring {}: {} rings exist, the limit is {}", spec.name,
                               rings_.size(), options_.max_rings));
    }
  }
  if (!ring) {
    if (auto dir = directory(true); !dir) return std::move(dir).error();
    auto opened = Ring::open(options_.path / spec.name, spec, options_.ring, host_);
    if (!opened) return std::move(opened).error();
    ring = std::move(*opened);
    if (auto s = ring->start(); !s) {
      (void)ring->remove_files();
      return std::move(s).error();
    }
    std::lock_guard lock(mutex_);
    rings_.emplace(spec.name, ring);
  } else if (auto s = ring->start(spec); !s) {
    return std::move(s).error();
  }
  wake_->notify();  // open chunks ahead; its age limit may be a new deadline
  spdlog::info("ring {} started", spec.name);
  return ring->status();
}

Result<RingStatus> RingManager::declare(const RingSpec& spec) {
  auto found = find(spec.name);
  if (found) {
    const RingStatus s = (*found)->status();
    if (s.running && s.spec == spec) return s;
    if (s.running) (*found)->stop(false);
  }
  return start(spec);
}

Result<RingStatus> RingManager::get(const std::string& name) const {
  auto ring = find(name);
  if (!ring) return std::move(ring).error();
  host_.absorb_kernel_losses();
  return (*ring)->status();
}

std::vector<RingStatus> RingManager::list() const {
  host_.absorb_kernel_losses();
  std::vector<std::shared_ptr<Ring>> rings;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, ring] : rings_) rings.push_back(ring);
  }
  std::vector<RingStatus> out;
  for (const auto& ring : rings) out.push_back(ring->status());
  return out;
}

Result<RingStatus> RingManager::stop(const std::string& name) {
  auto ring = find(name);
  if (!ring) return std::move(ring).error();
  (*ring)->stop(true);
  wake_->notify();  // its last chunks are closed now: they have an age
  spdlog::info("ring {} stopped", name);
  return (*ring)->status();
}

Status RingManager::remove(const std::string& name) {
  std::shared_ptr<Ring> ring;
  {
    std::lock_guard lock(mutex_);
    auto it = rings_.find(name);
    if (it == rings_.end()) {
      return Error(ErrorCode::kNotFound, fmt::format("ring {}: no such ring", name));
    }
    ring = it->second;
    rings_.erase(it);
  }
  ring->stop(true);
  if (auto s = ring->remove_files(); !s) return s;
  spdlog::info("ring {} deleted", name);
  return ok_status();
}

Status RingManager::snapshot(const SnapshotRequest& request,
                             const std::function<Status(const CapturedPacket&)>& emit,
                             SnapshotCounts* counts) const {
  std::shared_ptr<Ring> ring;
  {
    std::lock_guard lock(mutex_);
    auto it = rings_.find(request.name);
    if (it == rings_.end()) {
      return Error(ErrorCode::kNotFound, fmt::format("ring {}: no such ring", request.name));
    }
    ring = it->second;
  }
  auto source = ring->snapshot_source(request.from_ns, request.to_ns);
  if (!source) return std::move(source).error();
  if (source->held_first_ns == 0) {
    return Error(ErrorCode::kOutOfRange, fmt::format("ring {} holds no packets yet", request.name));
  }
  if (request.to_ns < source->held_first_ns || request.from_ns > source->held_last_ns) {
    return Error(ErrorCode::kOutOfRange,
                 fmt::format("ring {} holds packets from {} to {}; the range asked for ({} to "
                             "{}) is outside it",
                             request.name, rfc3339(source->held_first_ns),
                             rfc3339(source->held_last_ns), rfc3339(request.from_ns),
                             request.to_ns == UINT64_MAX ? "now" : rfc3339(request.to_ns)));
  }
  IndexQuery query;
  query.from_ns = request.from_ns;
  query.to_ns = request.to_ns;
  query.filters = request.filters;
  return select_packets(std::move(source->chunks), query, emit, counts);
}

}  // namespace recorder::ring
