#include "ring/ring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/wall_clock.h"
#include "ring/chunk_files.h"
#include "sink/encoded_record.h"
#include "sink/file_naming.h"
#include "sink/pcapng_encoder.h"
#include "sink/record_scanner.h"
#include "sink/recovery.h"

namespace recorder::ring {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kStateFile = "ring.json";
constexpr std::string_view kStateTemp = ".ring.json.tmp";
constexpr uint64_t kIndexedBytesPerPacket = 64;

bool overlaps(uint64_t first, uint64_t last, uint64_t from, uint64_t to) {
  return first <= to && last >= from;
}

}  // namespace

Ring::Ring(fs::path path, storage::Directory dir, RingSpec spec, RingOptions options,
           RingHost& host)
    : path_(std::move(path)),
      dir_(std::move(dir)),
      options_(std::move(options)),
      host_(host),
      spec_(std::move(spec)) {}

Ring::~Ring() {
  stop(false);
  close_chunks();
}

Result<std::unique_ptr<Ring>> Ring::open(const fs::path& path, RingSpec spec,
                                         const RingOptions& options, RingHost& host) {
  auto dir = storage::Directory::open_or_create(path, options.permissions);
  if (!dir) return std::move(dir).error().wrap(fmt::format("ring {}", spec.name));
  std::unique_ptr<Ring> ring(new Ring(path, std::move(*dir), std::move(spec), options, host));
  if (auto s = ring->load(); !s)
    return std::move(s).error().wrap(fmt::format("ring {}", ring->name()));
  return ring;
}

RingSpec Ring::spec() const {
  std::lock_guard lock(mutex_);
  return spec_;
}

Status Ring::load() {
  auto recovered = sink::recover_partial_files(path_);
  if (!recovered) return std::move(recovered).error();
  for (const auto& r : *recovered) {
    const std::string final_name = r.final_path.filename().string();
    auto st = dir_.stat(final_name);
    if (r.corrupt && st && st->st_size == 0) {
      // A chunk opened ahead that the crash caught before its header was written: it never held
      // a packet.
      (void)dir_.unlink(final_name);
      spdlog::info("ring {}: removed chunk {}, empty (opened ahead, never written)", spec_.name,
                   r.partial_path.filename().string());
      continue;
    }
    spdlog::info("ring {}: repaired chunk {} -> {}: {} packets kept, {} trailing bytes cut{}",
                 spec_.name, r.partial_path.filename().string(), final_name, r.packets_kept,
                 r.bytes_cut, r.reason.empty() ? "" : " (" + r.reason + ")");
  }
  auto names = dir_.list();
  if (!names) return std::move(names).error();
  for (const auto& name : *names) {
    if (name.starts_with(".") && name.ends_with(".tmp")) (void)dir_.unlink(name);
    auto chunk = parse_chunk_file_name(name);
    if (!chunk) continue;
    next_seq_ = std::max(next_seq_, chunk->seq + 1);
    auto held = index_chunk(chunk->seq, name);
    if (!held) {
      spdlog::warn("ring {}: chunk {} left out: {}", spec_.name, name, held.error().message());
      continue;
    }
    if (held->packets == 0) {
      (void)dir_.unlink(name);
      (void)dir_.unlink(index_file_name(chunk->seq));
      continue;
    }
    closed_.emplace(chunk->seq, std::move(*held));
  }
  return ok_status();
}

// The chunk's index: loaded when it is there and describes this file, else built by reading the
// chunk (a chunk a crash left without one) and written.
Result<Ring::Held> Ring::index_chunk(uint64_t seq, const std::string& file_name) {
  auto loaded = ChunkIndex::load(dir_, index_file_name(seq));
  if (loaded) return held_chunk(seq, file_name, std::move(*loaded), false);
  auto fd = dir_.open_file(file_name, O_RDONLY);
  if (!fd) return std::move(fd).error();
  auto reader = ChunkReader::open(std::move(*fd));
  if (!reader) return std::move(reader).error();
  auto built = ChunkIndex::build(*reader);
  if (!built) return std::move(built).error();
  return held_chunk(seq, file_name, std::move(*built), true);
}

// A closed chunk with its index; `write`: the index is new and goes to disk beside the chunk.
Result<Ring::Held> Ring::held_chunk(uint64_t seq, const std::string& file_name, ChunkIndex index,
                                    bool write) {
  auto size = dir_.stat(file_name);
  if (!size) return std::move(size).error();
  if (write && index.packets() > 0 && room_for_index(file_name, index.size_bytes())) {
    if (auto s = index.write(dir_, index_file_name(seq)); !s) {
      // Snapshots still work (the chunk is read through); the next start tries again.
      spdlog::warn("ring {}: {}", spec_.name, s.error().message());
    } else if (auto loaded = ChunkIndex::load(dir_, index_file_name(seq)); loaded) {
      // Held mapped from its file, not in the daemon's memory: a ring holds an index for every
      // chunk (a tenth to a half of the chunk's size), and the page cache can drop a mapping.
      index = std::move(*loaded);
    }
  }
  Held held;
  held.file_name = file_name;
  held.packets = index.packets();
  held.first_ns = index.first_ns();
  held.last_ns = index.last_ns();
  // What the chunk takes on disk (whole blocks), as du counts it.
  held.file_bytes = static_cast<uint64_t>(size->st_blocks) * 512;
  if (auto index_size = dir_.stat(index_file_name(seq)); index_size) {
    held.file_bytes += static_cast<uint64_t>(index_size->st_blocks) * 512;
  }
  held.index = std::make_shared<const ChunkIndex>(std::move(index));
  return held;
}

// A closed chunk's index: the one the producer built while writing it, written beside the chunk
// and held mapped; or, when a write error cut the file short of what the producer appended, one
// built by reading what the file holds.
Result<Ring::Held> Ring::close_index(const Chunk& chunk, const sink::SinkResult& closed) {
  if (closed.write_error || closed.packets_written != chunk.index.packets()) {
    return index_chunk(chunk.seq, chunk.file_name);
  }
  if (room_for_index(chunk.file_name, chunk.index.size_bound())) {
    const std::string name = index_file_name(chunk.seq);
    auto fd = dir_.open_file(chunk.file_name, O_RDONLY);
    if (!fd) return std::move(fd).error();
    if (auto s = chunk.index.write(dir_, name, spec_.format, std::move(*fd), index_bytes_); !s) {
      spdlog::warn("ring {}: {}", spec_.name, s.error().message());
    } else if (auto loaded = ChunkIndex::load(dir_, name); loaded) {
      return held_chunk(chunk.seq, chunk.file_name, std::move(*loaded), false);
    }
  }
  // Not on disk: held in memory (snapshots use it; the next start builds and writes it).
  auto fd = dir_.open_file(chunk.file_name, O_RDONLY);
  if (!fd) return std::move(fd).error();
  auto built = chunk.index.finish(spec_.format, std::move(*fd));
  if (!built) return std::move(built).error();
  return held_chunk(chunk.seq, chunk.file_name, std::move(*built), false);
}

void Ring::queue_close(std::unique_ptr<Chunk> chunk) {
  closing_[chunk->seq] = Closing{chunk->seq, chunk->file_name, chunk->first_ns.load(),
                                 chunk->last_ns.load(), chunk->bytes()};
  to_close_.push_back(std::move(chunk));
}

bool Ring::room_for_index(const std::string& file_name, uint64_t bytes) const {
  auto free = dir_.free_bytes();
  if (options_.min_free_disk == 0 || (free && *free >= options_.min_free_disk + bytes)) {
    return true;
  }
  // The index would take the disk below the floor the writers keep.
  spdlog::warn("ring {}: chunk {} not indexed on disk: the disk is at its free-space floor",
               spec_.name, file_name);
  return false;
}

Status Ring::save_state(bool running) const {
  RingState state{spec_, running};
  const std::string text = to_json(state);
  (void)dir_.unlink(kStateTemp);
  auto fd = dir_.create_file(kStateTemp, O_WRONLY);
  if (!fd) return std::move(fd).error().wrap("save ring state");
  if (::write(fd->get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::fsync(fd->get()) != 0) {
    const int err = errno;
    (void)dir_.unlink(kStateTemp);
    return Error::from_errno(fmt::format("save ring state of {}", spec_.name), err);
  }
  (void)dir_.unlink(kStateFile);
  if (auto s = dir_.rename(kStateTemp, kStateFile); !s) return std::move(s).error();
  return dir_.sync();
}

Result<std::unique_ptr<Chunk>> Ring::open_chunk() {
  auto chunk = std::make_unique<Chunk>();
  chunk->seq = next_seq_++;
  chunk->file_name = chunk_file_name(chunk->seq, spec_.format);
  sink::SinkOptions options;
  options.path = path_ / chunk->file_name;
  options.permissions = options_.permissions;
  options.format = spec_.format;
  options.snap_length = spec_.snap_length;
  // The queue of a recording (a ring loses no more than a recording would); a closed chunk's
  // queue memory serves the next (sink/stream_ring.h).
  options.queue_bytes = options_.queue_bytes;
  // No space reserved ahead of the writes: a chunk takes on disk what it holds (the ring's
  // budget counts its chunks' sizes).
  options.preallocate = false;
  // The index tables of a closed chunk when there is one (already faulted in).
  {
    std::lock_guard lock(mutex_);
    if (spare_index_) {
      chunk->index = std::move(*spare_index_);
      spare_index_.reset();
    }
  }
  // Room for as many packets as the chunk can hold at 64 bytes each; a chunk of smaller records
  // rotates when its index table is full.
  chunk->index.reserve(static_cast<size_t>(spec_.chunk_bytes / kIndexedBytesPerPacket));
  auto sink = sink::Sink::open(host_.writers(), options);
  if (!sink) return std::move(sink).error().wrap(fmt::format("ring {}: open chunk", spec_.name));
  chunk->sink = std::move(*sink);
  return chunk;
}

Status Ring::start(std::optional<RingSpec> spec) {
  std::lock_guard control(control_mutex_);
  if (running_) {
    return Error(ErrorCode::kAlreadyExists, fmt::format("ring {} is running", spec_.name));
  }
  {
    std::lock_guard lock(mutex_);
    if (spec) spec_ = std::move(*spec);
    message_.clear();
    last_stats_ = {};
  }
  RotationLimits limits;
  limits.wake = options_.wake;
  limits.chunk_bytes = spec_.chunk_bytes;
  limits.chunk_duration_ns = static_cast<uint64_t>(spec_.chunk_duration.count());
  if (spec_.format == sink::FileFormat::kPcapng) {
    // An interface block (when there are drops but none was written) and one statistics block
    // per interface.
    limits.trailer_bytes =
        sink::EncodedRecord::kMaxPrefix +
        (sink::PcapngEncoder::kMaxInterfaces + 2) * sink::PcapngEncoder::kIsbSize;
  }
  // Room for the first chunk before it is written.
  if (auto free = dir_.free_bytes(); free) retain(*free);
  auto first = open_chunk();
  if (!first) return std::move(first).error();
  auto rotating = std::make_unique<RotatingSink>(limits, std::move(*first));
  RotatingSink* raw = rotating.get();
  RecordingSpec recording_spec;
  recording_spec.include = spec_.include;
  recording_spec.snap_length = spec_.snap_length;
  auto recording =
      std::make_shared<Recording>(host_.allocate_id(), recording_spec, std::move(rotating));
  if (auto s = host_.attach(recording); !s) {
    for (auto& chunk : raw->take_remaining()) finish_chunk(std::move(chunk));
    return std::move(s).error().wrap(fmt::format("start ring {}", spec_.name));
  }
  {
    std::lock_guard lock(mutex_);
    recording_ = std::move(recording);
    rotating_ = raw;
    running_ = true;
  }
  // The chunks after the first, opened now rather than at the first packet (opening one maps
  // and populates its sink's queue memory): like a recording, a ring is ready when it starts.
  provide_chunks();
  if (auto s = save_state(true); !s) spdlog::warn("ring {}: {}", spec_.name, s.error().message());
  return ok_status();
}

void Ring::stop(bool persist) {
  std::lock_guard control(control_mutex_);
  if (!running_) return;
  host_.detach(recording_->id());
  (void)recording_->finish();  // the RotatingSink's close: the chunks are closed below
  {
    std::lock_guard lock(mutex_);
    last_stats_ = recording_->stats();
    for (auto& chunk : rotating_->take_remaining()) {
      queue_close(std::move(chunk));
    }
    running_ = false;
  }
  close_chunks();
  {
    std::lock_guard lock(mutex_);
    last_stats_ = recording_->stats();  // with the write losses of the chunks closed above
    recording_.reset();
    rotating_ = nullptr;
  }
  if (persist) {
    if (auto s = save_state(false); !s)
      spdlog::warn("ring {}: {}", spec_.name, s.error().message());
  }
}

void Ring::finish_chunk(std::unique_ptr<Chunk> chunk) {
  auto closed = chunk->sink->close(0);
  if (!closed) {
    spdlog::error("ring {}: close chunk {}: {}", spec_.name, chunk->file_name,
                  closed.error().message());
    std::lock_guard lock(mutex_);
    message_ = closed.error().message();
    closing_.erase(chunk->seq);
    return;
  }
  if (closed->write_error) {
    spdlog::warn("ring {}: chunk {}: {}", spec_.name, chunk->file_name,
                 closed->write_error->message());
    std::lock_guard lock(mutex_);
    message_ = closed->write_error->message();
  }
  if (closed->packets_lost_write > 0) {
    // The packets the chunk took but could not write are lost, not captured, as a recording
    // counts them; the index is then built from what the file holds (close_index()).
    std::lock_guard lock(mutex_);
    if (recording_) {
      recording_->count_unwritten(closed->packets_lost_write, closed->bytes_lost_write);
    }
  }
  std::optional<Held> held;
  if (closed->packets_written == 0) {
    if (!closed->path.empty()) (void)dir_.unlink(chunk->file_name);
  } else if (auto indexed = close_index(*chunk, *closed); indexed) {
    held = std::move(*indexed);
  } else {
    spdlog::error("ring {}: index chunk {}: {}", spec_.name, chunk->file_name,
                  indexed.error().message());
  }
  chunk->index.clear();
  std::lock_guard lock(mutex_);
  if (held) closed_.emplace(chunk->seq, std::move(*held));
  closing_.erase(chunk->seq);
  if (!spare_index_) spare_index_ = std::move(chunk->index);
}

void Ring::delete_chunk(uint64_t seq, const Held& held) {
  if (auto s = dir_.unlink(held.file_name); !s) {
    spdlog::warn("ring {}: {}", spec_.name, s.error().message());
  }
  (void)dir_.unlink(index_file_name(seq));
}

size_t Ring::close_chunks() {
  std::lock_guard close(close_mutex_);
  std::vector<std::unique_ptr<Chunk>> chunks;
  {
    std::lock_guard lock(mutex_);
    chunks.swap(to_close_);
  }
  for (auto& chunk : chunks) finish_chunk(std::move(chunk));
  return chunks.size();
}

std::optional<uint64_t> Ring::expiry_ns() const {
  std::lock_guard lock(mutex_);
  if (spec_.max_age.count() <= 0 || closed_.empty()) return std::nullopt;
  uint64_t oldest = UINT64_MAX;
  for (const auto& [seq, held] : closed_) oldest = std::min(oldest, held.last_ns);
  return oldest + static_cast<uint64_t>(spec_.max_age.count());
}

bool Ring::maintain(uint64_t free_bytes) {
  std::lock_guard control(control_mutex_);
  bool queued = false;
  if (running_) {
    std::lock_guard lock(mutex_);
    // The full chunk, and a chunk ahead that failed before its first packet (the producer
    // skipped it; another is opened below).
    std::unique_ptr<Chunk> taken[] = {rotating_->take_retired(), rotating_->take_discarded()};
    for (auto& chunk : taken) {
      if (!chunk) continue;
      queue_close(std::move(chunk));
      queued = true;
    }
  }
  retain(free_bytes);
  if (running_) provide_chunks();
  return queued;
}

// Disk use: at every moment the closed chunks (with their indexes), the chunks being closed and
// the chunk being written take at most max_bytes plus one chunk. A chunk with its index never
// exceeds chunk_bytes (rotating_sink.h), so each chunk that is open (being closed, written, or
// handed over to be written next) is counted as a whole chunk; retention keeps room for one more
// beside them, and a chunk is handed over only when it fits: a chunk the producer may switch to
// without waiting for this thread again may only fill once every chunk before it is full.
uint64_t Ring::reserved_bytes() const {
  // A chunk that grew past its size (its next was not ready in time) counts as what it is.
  uint64_t reserved = 0;
  for (const auto& [seq, c] : closing_) reserved += std::max(spec_.chunk_bytes, c.bytes);
  if (running_ && rotating_->current() != nullptr) {
    reserved += std::max(spec_.chunk_bytes, rotating_->current()->bytes());
  }
  return reserved;
}

// What the chunk being written may still take on disk: up to its size. (A rotation wakes the
// maintenance, which looks again with the next chunk.)
uint64_t Ring::current_chunk_room() const {
  if (!running_) return 0;
  const Chunk* c = rotating_->current();
  if (c == nullptr) return 0;
  return spec_.chunk_bytes - std::min(spec_.chunk_bytes, c->bytes());
}

void Ring::retain(uint64_t free_bytes) {
  std::lock_guard lock(mutex_);
  std::vector<ClosedChunk> closed;
  for (const auto& [seq, held] : closed_) closed.push_back({seq, held.file_bytes, held.last_ns});
  RetentionBudget budget;
  budget.max_bytes = spec_.max_bytes;
  budget.max_age = spec_.max_age;
  // The floor is kept as if the chunk being written were full: deleting starts a chunk above the
  // writers' floor, so capture does not hit it first, and that chunk of room stays free beside
  // the ring for what else is written there (a snapshot of it).
  if (options_.min_free_disk > 0) {
    budget.free_floor = options_.min_free_disk + spec_.chunk_bytes;
    const uint64_t room = current_chunk_room();
    free_bytes = free_bytes > room ? free_bytes - room : 0;
  }
  for (const auto& e :
       select_expired_chunks(closed, reserved_bytes(), free_bytes, budget, wall_clock_ns())) {
    auto it = closed_.find(e.seq);
    if (it == closed_.end()) continue;
    spdlog::info("ring {}: deleted chunk {} ({})", spec_.name, it->second.file_name, e.reason);
    delete_chunk(e.seq, it->second);
    closed_.erase(it);
    ++chunks_deleted_;
  }
}

void Ring::provide_chunks() {
  while (rotating_->wants_next()) {
    const uint64_t ahead = rotating_->chunks_ahead();
    {
      std::lock_guard lock(mutex_);
      uint64_t committed = reserved_bytes() + ahead * spec_.chunk_bytes;
      for (const auto& [seq, held] : closed_) committed += held.file_bytes;
      if (spec_.max_bytes != 0 && committed > spec_.max_bytes) break;  // retention makes room
    }
    auto next = open_chunk();
    if (!next) {
      std::lock_guard lock(mutex_);
      if (message_ != next.error().message()) {
        spdlog::warn("{}", next.error().message());
        message_ = next.error().message();
      }
      break;
    }
    rotating_->provide_next(std::move(*next));
  }
}

Status Ring::remove_files() {
  std::lock_guard control(control_mutex_);
  if (running_) {
    return Error(ErrorCode::kFailedPrecondition, fmt::format("ring {} is running", spec_.name));
  }
  close_chunks();
  std::lock_guard close(close_mutex_);
  std::lock_guard lock(mutex_);
  for (const auto& [seq, held] : closed_) delete_chunk(seq, held);
  closed_.clear();
  auto names = dir_.list();
  if (!names) return std::move(names).error();
  for (const auto& name : *names) {
    if (auto s = dir_.unlink(name); !s) return std::move(s).error().wrap("delete ring");
  }
  std::error_code ec;
  fs::remove(path_, ec);
  if (ec) {
    return Error(ErrorCode::kInternal, fmt::format("delete ring {}: remove {}: {}", spec_.name,
                                                   path_.string(), ec.message()));
  }
  return ok_status();
}

RingStatus Ring::status() const {
  std::lock_guard lock(mutex_);
  RingStatus s;
  s.spec = spec_;
  s.running = running_;
  s.stats = running_ ? recording_->stats() : last_stats_;
  s.chunks_deleted = chunks_deleted_;
  s.message = message_;
  auto add = [&](uint64_t first, uint64_t last, uint64_t bytes) {
    ++s.chunks;
    s.bytes += bytes;
    if (first != 0 && (s.first_ns == 0 || first < s.first_ns)) s.first_ns = first;
    s.last_ns = std::max(s.last_ns, last);
  };
  for (const auto& [seq, held] : closed_) add(held.first_ns, held.last_ns, held.file_bytes);
  for (const auto& [seq, c] : closing_) add(c.first_ns, c.last_ns, 0);
  if (running_) {
    for (const Chunk* c : {rotating_->retired(), rotating_->current()}) {
      if (c != nullptr && c->packets() > 0) add(c->first_ns.load(), c->last_ns.load(), c->bytes());
    }
  }
  return s;
}

Result<SnapshotSource> Ring::snapshot_source(uint64_t from_ns, uint64_t to_ns) const {
  SnapshotSource source;
  struct Pending {  // a chunk still written: read up to what it had taken
    size_t at;
    uint64_t packets;
  };
  std::vector<Pending> pending;
  {
    std::lock_guard lock(mutex_);
    auto note_range = [&](uint64_t first, uint64_t last) {
      if (first == 0) return;
      if (source.held_first_ns == 0 || first < source.held_first_ns) source.held_first_ns = first;
      source.held_last_ns = std::max(source.held_last_ns, last);
    };
    // An open fd keeps the bytes readable whatever retention does to the name afterwards.
    auto open_named = [&](const std::string& file_name) -> Result<Fd> {
      auto fd = dir_.open_file(sink::partial_file_name(file_name), O_RDONLY);
      if (!fd && fd.error().code() == ErrorCode::kNotFound)
        fd = dir_.open_file(file_name, O_RDONLY);
      return fd;
    };
    for (const auto& [seq, held] : closed_) {
      note_range(held.first_ns, held.last_ns);
      if (!overlaps(held.first_ns, held.last_ns, from_ns, to_ns)) continue;
      auto fd = dir_.open_file(held.file_name, O_RDONLY);
      if (!fd) return std::move(fd).error().wrap("snapshot");
      source.chunks.push_back({seq, std::move(*fd), 0, held.index});
    }
    auto add_open = [&](uint64_t seq, const std::string& file_name, uint64_t first, uint64_t last,
                        uint64_t packets) -> Status {
      note_range(first, last);
      if (first == 0 || !overlaps(first, last, from_ns, to_ns)) return ok_status();
      auto fd = open_named(file_name);
      if (!fd) return std::move(fd).error().wrap("snapshot");
      if (packets > 0) pending.push_back({source.chunks.size(), packets});
      source.chunks.push_back({seq, std::move(*fd), 0, nullptr});
      return ok_status();
    };
    for (const auto& [seq, c] : closing_) {
      if (auto s = add_open(seq, c.file_name, c.first_ns, c.last_ns, 0); !s) {
        return std::move(s).error();
      }
    }
    if (running_) {
      for (const Chunk* c : {rotating_->retired(), rotating_->current()}) {
        if (c == nullptr || c->packets() == 0) continue;
        if (auto s =
                add_open(c->seq, c->file_name, c->first_ns.load(), c->last_ns.load(), c->packets());
            !s)
          return std::move(s).error();
      }
    }
  }
  // The writer flushes a chunk at least every half second: wait until the packets the chunk
  // had taken are in the file, and read no further than the last complete one of them.
  std::vector<bool> unreadable(source.chunks.size());
  for (const Pending& p : pending) {
    SnapshotChunk& chunk = source.chunks[p.at];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    std::optional<sink::ScanResult> scanned;  // each look reads only what was written since
    for (;;) {
      struct stat st {};
      if (::fstat(chunk.fd.get(), &st) != 0) break;
      auto scan = sink::scan_records(chunk.fd.get(), static_cast<uint64_t>(st.st_size),
                                     scanned ? &*scanned : nullptr);
      if (scan.ok()) {
        chunk.limit = scan->valid_end;
        scanned = *scan;
      }
      if ((scan.ok() && scan->packets >= p.packets) ||
          std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    unreadable[p.at] = chunk.limit == 0;  // not even a complete header yet: nothing to read
  }
  for (size_t i = source.chunks.size(); i-- > 0;) {
    if (unreadable[i]) source.chunks.erase(source.chunks.begin() + static_cast<ptrdiff_t>(i));
  }
  std::sort(source.chunks.begin(), source.chunks.end(),
            [](const SnapshotChunk& a, const SnapshotChunk& b) { return a.seq < b.seq; });
  return source;
}

}  // namespace recorder::ring
