#include "sink/writer_pool_impl.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace recorder::sink {
namespace {

using Clock = std::chrono::steady_clock;

// One write in flight: which sink, its slot in the sink's write list, what it writes (ring
// memory) and where it goes.
struct WriteOp {
  SinkChannel* channel;
  size_t slot;
  const uint8_t* data;
  size_t length;
  uint64_t offset;
  uint64_t claimed;  // bytes claimed from the free-space floor for it
};

uint32_t* futex_word(std::atomic<uint32_t>& a) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  return reinterpret_cast<uint32_t*>(&a);
}

// Sleeps while `word` still holds `expected`, at most `timeout` (nullopt: no limit; EINTR/EAGAIN
// just return: the caller re-checks everything anyway).
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected,
                std::optional<std::chrono::nanoseconds> timeout) {
  timespec ts{};
  if (timeout) {
    if (*timeout <= std::chrono::nanoseconds::zero()) return;
    ts.tv_sec = static_cast<time_t>(timeout->count() / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout->count() % 1000000000);
  }
  ::syscall(SYS_futex, futex_word(word), FUTEX_WAIT_PRIVATE, expected, timeout ? &ts : nullptr,
            nullptr, 0);
}

// A full memory barrier on every CPU running a thread of this process (WriterWakeup).
void process_barrier() { (void)::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0); }

// Whether the filesystem of `fd` has `bytes` free (and as much again, for everyone else).
bool fits_on_disk(int fd, uint64_t bytes) {
  struct statvfs st {};
  if (::fstatvfs(fd, &st) != 0) return false;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize / 2 >= bytes;
}
}  // namespace

void WriterWakeup::wake() noexcept {
  sequence.fetch_add(1, std::memory_order_seq_cst);
  ::syscall(SYS_futex, futex_word(sequence), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

class WriterThread {
 public:
  // `idle_sleep`: membarrier works, so the thread may sleep with no deadline (WriterWakeup).
  WriterThread(std::unique_ptr<IoBackend> io, FreeSpaceFloor& floor, unsigned index,
               bool idle_sleep)
      : io_(std::move(io)), floor_(floor), idle_sleep_(idle_sleep) {
    thread_ = std::thread([this, index] { run(index); });
  }
  ~WriterThread() {
    request_stop();
    thread_.join();
  }

  // Lets the thread end on its own once its writes complete, without waiting for it: it may be
  // stuck in a hung disk. The caller leaks this object, which the thread goes on using.
  void let_go() {
    request_stop();
    thread_.detach();
  }

  void attach(SinkChannel* c) {
    // Before any producer sees the sink: wake this thread once a direct write's worth (at most
    // a quarter of the ring) is waiting, well before the ring can fill.
    c->queue.set_wakeup(&wakeup_, c->write_size);
    {
      std::lock_guard lock(mu_);
      incoming_.push_back(c);
    }
    kick();
  }
  // Control side (attach, close, stop): always wakes the thread.
  void kick() { wakeup_.wake(); }

 private:
  void request_stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    kick();
  }

 public:
 private:
  void run(unsigned index);
  // Sleeps until `deadline` unless there is work: a stop, a new sink, a closing sink, or a queue
  // past its watermark; producers wake it when a queue passes the watermark meanwhile. With no
  // deadline (nothing left to write) it sleeps until any record is queued; returns whether it
  // did (then the bytes it finds next arrived just before it woke).
  bool sleep_until(std::optional<Clock::time_point> deadline);
  // Starts writes of one sink's queued bytes; returns the bytes that arrived since the last
  // round. `since`: the previous round, a lower bound of when newly seen bytes were queued.
  size_t service(SinkChannel& c, Clock::time_point now, Clock::time_point since);
  // Submits one write of up to `max` bytes at c.writer.submitted (never across the end of the
  // ring); false when the sink has kMaxWrites in flight.
  bool submit(SinkChannel& c, size_t max);
  void write_tail(SinkChannel& c, uint64_t from, uint64_t to);
  // Gives the ring back up to the first write still in flight (or everything submitted).
  void release_written(SinkChannel& c);
  void fail(SinkChannel& c, int err, uint64_t offset);
  void complete(const IoCompletion& done);
  void preallocate(SinkChannel& c, uint64_t end);
  // Claims the new space a write up to `end` needs from the floor (how much: `claimed`); returns
  // how far the write may go (`end` when all of it fits above the floor).
  uint64_t claim_space(SinkChannel& c, uint64_t end, uint64_t& claimed);
  // The floor cut a write short at `offset`: the sink takes nothing more (ENOSPC).
  void floor_reached(SinkChannel& c, uint64_t offset);

  std::unique_ptr<IoBackend> io_;
  FreeSpaceFloor& floor_;
  const bool idle_sleep_;
  std::thread thread_;
  std::mutex mu_;
  WriterWakeup wakeup_;
  bool stop_ = false;
  std::vector<SinkChannel*> incoming_;  // guarded by mu_
  std::vector<SinkChannel*> active_;    // writer thread only
  size_t in_flight_ = 0;
};

void WriterThread::fail(SinkChannel& c, int err, uint64_t offset) {
  auto& w = c.writer;
  w.failed_at = std::min(w.failed_at, offset);
  int expected = 0;
  if (c.queue.failure_errno().compare_exchange_strong(expected, err)) {
    if (c.floor_reached.load()) {
      spdlog::warn(
          "sink {}: the filesystem is down to its free-space floor of {} bytes; the "
          "recording stops taking packets",
          c.name, floor_.floor());
    } else {
      spdlog::error("sink {}: write at offset {} failed: {}; the recording stops taking packets",
                    c.name, offset, std::strerror(err));
    }
    if (c.on_failure != nullptr) c.on_failure->notify();
  }
}

uint64_t WriterThread::claim_space(SinkChannel& c, uint64_t end, uint64_t& claimed) {
  auto& w = c.writer;
  if (end <= w.claimed_end) {
    claimed = 0;
    return end;
  }
  const uint64_t need = end - w.claimed_end;
  claimed = floor_.claim(c.buffered_fd, w.dev, need);
  w.claimed_end += claimed;
  return claimed == need ? end : w.claimed_end;
}

void WriterThread::floor_reached(SinkChannel& c, uint64_t offset) {
  c.floor_reached.store(true);
  fail(c, ENOSPC, offset);
}

void WriterThread::preallocate(SinkChannel& c, uint64_t end) {
  auto& w = c.writer;
  if (!w.fallocate_ok || end <= w.allocated_end) return;
  // Reserve space well ahead so the filesystem allocates large extents and block allocation
  // stays off the write path. KEEP_SIZE: the file size keeps telling how much data is real.
  const uint64_t target = end + WriterPoolImpl::kFallocateStep;
  const uint64_t from = std::max(w.allocated_end, w.claimed_end);
  const uint64_t need = target > from ? target - from : 0;
  if (const uint64_t granted = floor_.claim(c.buffered_fd, w.dev, need); granted < need) {
    // Not that much room above the floor: the writes claim their space as they go. Try again
    // a step further on.
    floor_.settle(w.dev, granted);
    w.allocated_end = target;
    return;
  }
  if (!floor_.enabled() && !fits_on_disk(c.buffered_fd, need)) {
    // No floor to keep, and not that much room: reserving would take the disk's last blocks
    // from everyone else (other recordings' metadata, rings). The writes claim as they go.
    w.allocated_end = target;
    return;
  }
  const int failed =
      ::fallocate(c.buffered_fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(w.allocated_end),
                  static_cast<off_t>(target - w.allocated_end));
  const int fallocate_errno = errno;
  floor_.settle(w.dev, need);  // fallocate is synchronous: statvfs tells from here on
  if (failed != 0) {
    // Not supported, or the disk is nearly full: the writes themselves will tell. A filesystem
    // that ran out part way keeps what it allocated (ext4 does): give back what lies past every
    // write (this one ends at `end`), so that a failed reservation holds no space.
    if (fallocate_errno == ENOSPC) {
      const uint64_t from_end = std::max(w.allocated_end, end);
      if (target > from_end) {
        // Best effort: if it fails, the space comes back when the file is cut to its size at close.
        (void)::fallocate(c.buffered_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                          static_cast<off_t>(from_end), static_cast<off_t>(target - from_end));
      }
    }
    w.fallocate_ok = false;
    return;
  }
  w.allocated_end = target;
  w.claimed_end = std::max(w.claimed_end, target);
}

bool WriterThread::submit(SinkChannel& c, size_t max) {
  auto& w = c.writer;
  if (w.count == SinkChannel::kMaxWrites || c.queue.failure_errno().load() != 0) return false;
  const StreamRing& ring = c.queue.ring();
  const uint64_t offset = w.submitted;
  size_t length = std::min(max, ring.contiguous(offset));
  preallocate(c, offset + length);
  uint64_t claimed = 0;
  if (const uint64_t fits = claim_space(c, offset + length, claimed); fits < offset + length) {
    // The floor: write what fits (whole blocks when direct), and nothing after it.
    const size_t block = c.direct ? SinkChannel::kBlock : 1;
    length = static_cast<size_t>(fits > offset ? fits - offset : 0) / block * block;
    floor_reached(c, offset + length);
    if (length == 0) {
      floor_.settle(w.dev, claimed);
      return false;
    }
  }
  const size_t slot = (w.first + w.count) % SinkChannel::kMaxWrites;
  w.writes[slot] = {offset, length, false};
  ++w.count;
  w.submitted += length;
  w.visible = std::max(w.visible, w.submitted);
  auto* op = new WriteOp{&c, slot, ring.at(offset), length, offset, claimed};
  ++in_flight_;
  io_->queue_write(c.direct_fd, op->data, op->length, op->offset, op, w.memory_slot);
  return true;
}

void WriterThread::write_tail(SinkChannel& c, uint64_t from, uint64_t to) {
  // The unaligned end of the data: O_DIRECT cannot write it, so it goes through the page cache
  // now (small, at most once per flush interval) and is rewritten by the direct write of its
  // block once the block is full. The file size is then always the exact data size.
  const StreamRing& ring = c.queue.ring();
  uint64_t claimed = 0;
  if (const uint64_t fits = claim_space(c, to, claimed); fits < to) {
    floor_reached(c, std::max(from, fits));  // the floor: write what fits, nothing after it
    to = std::max(from, fits);
  }
  uint64_t done = from;
  while (done < to) {
    const size_t piece = std::min<uint64_t>(to - done, ring.contiguous(done));
    const ssize_t r = ::pwrite(c.buffered_fd, ring.at(done), piece, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fail(c, r < 0 ? errno : ENOSPC, done);
      break;
    }
    done += static_cast<size_t>(r);
  }
  floor_.settle(c.writer.dev, claimed);
}

void WriterThread::release_written(SinkChannel& c) {
  auto& w = c.writer;
  while (w.count > 0 && w.writes[w.first].done) {
    w.first = (w.first + 1) % SinkChannel::kMaxWrites;
    --w.count;
  }
  // The partial block past `submitted` stays: its direct write is still to come.
  c.queue.ring().release(w.count > 0 ? w.writes[w.first].offset : w.submitted);
}

void WriterThread::complete(const IoCompletion& done) {
  auto* op = static_cast<WriteOp*>(done.user);
  SinkChannel& c = *op->channel;
  auto& w = c.writer;
  --in_flight_;
  if (done.result == -EINVAL && c.direct && c.queue.failure_errno().load() == 0) {
    // The filesystem accepted O_DIRECT at open but not this write (alignment stricter than
    // 4 KiB, or no direct I/O after all): go on through the page cache for good.
    spdlog::warn("sink {}: O_DIRECT write refused (EINVAL), writing through the page cache",
                 c.name);
    c.direct = false;
    c.direct_fd = c.buffered_fd;
    ++in_flight_;
    io_->queue_write(c.direct_fd, op->data, op->length, op->offset, op, w.memory_slot);
    return;
  }
  if (done.result < 0) {
    fail(c, -done.result, op->offset);
  } else if (static_cast<size_t>(done.result) < op->length) {
    const auto n = static_cast<size_t>(done.result);
    if (n == 0) {
      fail(c, ENOSPC, op->offset);  // a write that makes no progress: the device is full
    } else if (c.queue.failure_errno().load() == 0) {
      // Short write: write the rest; the retry reports the real error if there is one.
      op->data += n;
      op->length -= n;
      op->offset += n;
      ++in_flight_;
      io_->queue_write(c.direct_fd, op->data, op->length, op->offset, op, w.memory_slot);
      return;
    } else {
      fail(c, c.queue.failure_errno().load(), op->offset + n);
    }
  }
  w.writes[op->slot].done = true;
  floor_.settle(w.dev, op->claimed);
  delete op;
  release_written(c);
}

size_t WriterThread::service(SinkChannel& c, Clock::time_point now, Clock::time_point since) {
  auto& w = c.writer;
  const bool closing = c.close_requested.load(std::memory_order_acquire);
  const uint64_t head = c.queue.ring().head();
  const size_t arrived = static_cast<size_t>(head - w.seen);
  if (arrived > 0 && w.seen == w.visible) w.pending_since = since;
  w.seen = head;
  if (c.queue.failure_errno().load(std::memory_order_relaxed) != 0) {
    // The file takes nothing more: skip what is queued (the close accounting counts it) and
    // give its space back once no write in flight reads from it.
    w.submitted = w.visible = std::max(w.submitted, head);
    release_written(c);
    return 0;
  }
  const size_t block = c.direct ? SinkChannel::kBlock : 1;
  const uint64_t whole = head / block * block;  // what a direct write may take
  // Whole direct writes as soon as a write's worth waits.
  while (whole - w.submitted >= c.write_size) {
    if (!submit(c, c.write_size)) break;
  }
  // A file that holds nothing yet gets its header (and what came with it) at once, so even a
  // crash right after the start leaves a valid file.
  if (head > w.visible &&
      (closing || w.visible == 0 || now - w.pending_since >= WriterPoolImpl::kFlushAfter)) {
    // Flush: every whole block directly, the rest through the page cache.
    while (whole > w.submitted) {
      if (!submit(c, static_cast<size_t>(whole - w.submitted))) break;
    }
    if (w.submitted == whole) {
      if (head > whole) write_tail(c, whole, head);
      w.visible = head;
    }
  }
  release_written(c);
  return arrived;
}

bool WriterThread::sleep_until(std::optional<Clock::time_point> deadline) {
  const bool idle = !deadline && idle_sleep_;
  if (!deadline && !idle) deadline = Clock::now() + WriterPoolImpl::kIdleWait;
  wakeup_.sleeping.store(true, std::memory_order_seq_cst);
  if (idle) wakeup_.idle.store(true, std::memory_order_seq_cst);
  const uint32_t seq = wakeup_.sequence.load(std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with the producer's fence
  if (idle) process_barrier();                          // pairs with the producers' loads of `idle`
  bool work = false;
  {
    std::lock_guard lock(mu_);
    work = stop_ || !incoming_.empty();
  }
  for (SinkChannel* c : active_) {
    const uint64_t head = c->queue.ring().head();
    work = work || c->close_requested.load(std::memory_order_acquire) ||
           head - c->writer.submitted >= c->queue.watermark() || (idle && head != c->writer.seen);
  }
  if (!work) {
    futex_wait(wakeup_.sequence, seq,
               deadline ? std::optional(*deadline - Clock::now()) : std::nullopt);
  }
  wakeup_.sleeping.store(false, std::memory_order_relaxed);
  wakeup_.idle.store(false, std::memory_order_relaxed);
  return idle && !work;
}

void WriterThread::run(unsigned index) {
  pthread_setname_np(pthread_self(), fmt::format("sink-writer{}", index).c_str());
  IoCompletion done[64];
  auto last_round = Clock::now();
  for (;;) {
    {
      std::lock_guard lock(mu_);
      // Sinks are closed before the pool goes (sink.h); only writes in flight must finish,
      // since they read from buffers the sinks own.
      if (stop_ && in_flight_ == 0) return;
      for (SinkChannel* c : incoming_) {
        struct stat st {};
        if (::fstat(c->buffered_fd, &st) == 0) c->writer.dev = st.st_dev;
        const StreamRing& ring = c->queue.ring();
        c->writer.memory_slot = io_->register_memory(ring.at(0), ring.capacity());
        active_.push_back(c);
      }
      incoming_.clear();
    }
    const auto now = Clock::now();
    size_t popped = 0;
    for (SinkChannel* c : active_) popped += service(*c, now, last_round);
    last_round = now;
    io_->submit();
    size_t reaped = 0;
    for (size_t n; (n = io_->reap(std::chrono::microseconds(0), done, 64)) > 0;) {
      for (size_t i = 0; i < n; ++i) complete(done[i]);
      reaped += n;
    }
    io_->submit();  // short-write retries

    // Hand back closing sinks whose data is all in the file.
    for (size_t i = 0; i < active_.size();) {
      SinkChannel* c = active_[i];
      auto& w = c->writer;
      const bool failed = c->queue.failure_errno().load() != 0;
      if (c->close_requested.load(std::memory_order_acquire) && w.count == 0 &&
          (failed || c->queue.ring().head() == w.visible)) {
        active_[i] = active_.back();
        active_.pop_back();
        io_->unregister_memory(w.memory_slot);
        w.memory_slot = -1;
        w.done = true;
        c->drained.set_value();
        continue;
      }
      ++i;
    }

    if (popped >= (256u << 10) || reaped > 0) continue;  // busy: go straight on
    if (in_flight_ > 0) {
      // Waiting for the disk: wake on the first completion.
      const size_t n = io_->reap(WriterPoolImpl::kDiskWait, done, 64);
      for (size_t i = 0; i < n; ++i) complete(done[i]);
      continue;
    }
    // Nothing to do before the earliest flush deadline; with nothing pending, nothing until a
    // record is queued (without membarrier: kIdleWait, and bytes found then count as queued
    // since the previous round, so they are flushed at once).
    std::optional<Clock::time_point> deadline;
    for (SinkChannel* c : active_) {
      const auto& w = c->writer;
      if (w.seen > w.visible) {
        const auto due = w.pending_since + WriterPoolImpl::kFlushAfter;
        deadline = deadline ? std::min(*deadline, due) : due;
      }
    }
    // Woken from an idle sleep by the first record queued since: it counts from now.
    if (sleep_until(deadline)) last_round = Clock::now();
  }
}

WriterPoolImpl::WriterPoolImpl(Options options)
    : options_(options), floor_(std::make_unique<FreeSpaceFloor>(options.min_free_disk)) {}

WriterPoolImpl::~WriterPoolImpl() {
  if (abandoned_.load()) {
    // A sink was given up on a hung disk: its writer may never return from the kernel, and
    // joining it would hang the daemon's exit. The threads end (or the process exits) without us.
    spdlog::warn("sink writers: not waiting for writes a hung disk has not completed");
    for (auto& t : threads_) t.release()->let_go();
    (void)floor_.release();  // the threads let go still use it
  }
  threads_.clear();
}

Status WriterPoolImpl::start() {
  if (options_.threads == 0) {
    return Error(ErrorCode::kInvalidArgument, "create writer pool: threads must be at least 1");
  }
  std::vector<std::unique_ptr<IoBackend>> backends;
  bool uring = options_.use_io_uring;
  std::string reason = "disabled by configuration";
  if (uring) {
    for (unsigned i = 0; i < options_.threads; ++i) {
      auto b = make_io_uring_backend(256);
      if (!b.ok()) {
        uring = false;
        reason = b.error().message();
        backends.clear();
        break;
      }
      backends.push_back(std::move(*b));
    }
  }
  if (uring) {
    backend_ = "io_uring";
  } else {
    backend_ = fmt::format("pwrite (io_uring unavailable: {})", reason);
    if (options_.use_io_uring) spdlog::warn("sink writers: {}", backend_);
    for (unsigned i = 0; i < options_.threads; ++i) backends.push_back(make_pwrite_backend());
  }
  // Registered once for the process; refused (an old kernel, a seccomp filter): the writers
  // wake every kIdleWait when idle instead.
  const bool idle_sleep =
      ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  if (!idle_sleep) {
    spdlog::info("sink writers: membarrier unavailable ({}): idle writers wake every {} ms",
                 std::strerror(errno), WriterPoolImpl::kIdleWait.count());
  }
  for (unsigned i = 0; i < options_.threads; ++i) {
    threads_.push_back(
        std::make_unique<WriterThread>(std::move(backends[i]), *floor_, i, idle_sleep));
  }
  return ok_status();
}

Status WriterPoolImpl::reserve(size_t bytes) {
  std::lock_guard lock(budget_mu_);
  const size_t used = reserved_.load();
  if (used + bytes > options_.total_queue_bytes) {
    return Error(ErrorCode::kResourceExhausted,
                 fmt::format("reserve {} bytes of sink queue memory: {} of {} bytes in use "
                             "(writer pool total_queue_bytes)",
                             bytes, used, options_.total_queue_bytes));
  }
  reserved_.store(used + bytes);
  return ok_status();
}

void WriterPoolImpl::release(size_t bytes) {
  std::lock_guard lock(budget_mu_);
  reserved_.store(reserved_.load() - bytes);
}

void WriterPoolImpl::attach(SinkChannel* channel) {
  const size_t i = next_thread_.fetch_add(1) % threads_.size();
  threads_[i]->attach(channel);
}

bool WriterPoolImpl::detach(SinkChannel* channel) {
  auto drained = channel->drained.get_future();
  channel->close_requested.store(true, std::memory_order_release);
  for (auto& t : threads_) t->kick();
  if (drained.wait_for(options_.drain_timeout) == std::future_status::ready) return true;
  abandoned_.store(true);
  return false;
}

Result<std::unique_ptr<WriterPool>> WriterPool::create(Options options) {
  auto pool = std::make_unique<WriterPoolImpl>(options);
  if (auto st = pool->start(); !st.ok()) return std::move(st).error();
  return std::unique_ptr<WriterPool>(std::move(pool));
}

}  // namespace recorder::sink
