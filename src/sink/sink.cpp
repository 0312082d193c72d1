// Sink::open / SinkImpl: the file lifecycle of one recording (see sink.h).
//
// Every file operation goes through the storage directory (storage/directory.h): relative to the
// directory's fd, never following a symbolic link, so nothing planted in the directory can steer
// a sink's writes, renames or removals elsewhere.
//
// open:  "<dir>/.<name>.partial" created exclusively (mode and group from SinkOptions, whatever
//        the umask), opened a second time with O_DIRECT (when
//        the pool wants direct I/O and the filesystem accepts it), file header queued, channel
//        handed to a writer thread.
// close: the writer drains the queue and hands the channel back; then (control thread) the
//        pcapng trailer is written, the file cut to its exact size (which also frees space
//        fallocate()d ahead), fsync()ed, renamed to its final name and the directory fsync()ed.
//        After a write error the file is instead cut back to its last complete record and the
//        records in it are counted, so the result says exactly what is in the file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/wall_clock.h"
#include "sink/file_naming.h"
#include "sink/record_scanner.h"
#include "sink/sink.h"
#include "sink/sink_channel.h"
#include "sink/writer_pool_impl.h"

namespace recorder::sink {
namespace {

// Whether our 4 KiB-aligned ring memory and offsets satisfy the file's direct I/O alignment. The
// kernel tells (statx STATX_DIOALIGN, Linux 6.1+); where it does not, opening with O_DIRECT and
// the writer's EINVAL fallback decide.
bool direct_io_usable(int fd, const std::string& name) {
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) != 0 ||
      (sx.stx_mask & STATX_DIOALIGN) == 0) {
    return true;
  }
  if (sx.stx_dio_offset_align == 0) {
    spdlog::info("sink {}: the filesystem has no direct I/O, writing through the page cache", name);
    return false;
  }
  if (sx.stx_dio_offset_align > SinkChannel::kBlock || sx.stx_dio_mem_align > SinkChannel::kBlock) {
    spdlog::info("sink {}: direct I/O needs {}-byte alignment, writing through the page cache",
                 name, std::max(sx.stx_dio_offset_align, sx.stx_dio_mem_align));
    return false;
  }
  return true;
}

class SinkImpl final : public Sink {
 public:
  SinkImpl(WriterPoolImpl& pool, SinkOptions options, storage::Directory dir)
      : channel_(std::make_unique<SinkChannel>(options.format, options.snap_length,
                                               options.queue_bytes)),
        pool_(pool),
        options_(std::move(options)),
        dir_(std::move(dir)),
        final_name_(options_.path.filename().string()),
        partial_(partial_file_name(final_name_)) {}

  ~SinkImpl() override {
    if (abandoned_) (void)channel_.release();  // the writer thread may still use it
    if (!closed_) {
      // Not closed by the owner: still finish the file properly, it is never left half-valid.
      auto r = close(0);
      if (!r.ok())
        spdlog::error("sink {}: close on destruction: {}", partial_, r.error().message());
    }
  }

  Status init();

  AppendResult try_append(const CapturedPacket& packet) noexcept override {
    return channel_->queue.try_append(packet);
  }

  EncodingQueue* direct_queue() noexcept override { return &channel_->queue; }

  RecordPlacement last_placement() const noexcept override {
    return channel_->queue.last_placement();
  }

  bool failed() const noexcept override { return failure_errno() != 0; }
  int failure_errno() const noexcept override {
    return channel_->queue.failure_errno().load(std::memory_order_relaxed);
  }

  SinkProgress progress() const noexcept override {
    const EncodingQueue& q = channel_->queue;
    return {.queued_bytes = q.read_available(),
            .queue_capacity_bytes = q.capacity(),
            .written_bytes = q.released_bytes()};
  }

  Result<SinkResult> close(uint64_t dropped_packets) override;

  // After a failed init(): removes what init() created.
  void abandon() {
    closed_ = true;
    close_fds();
    if (created_) {
      if (auto s = dir_.unlink(partial_); !s.ok())
        spdlog::warn("sink {}: {}", final_name_, s.error().message());
    }
    if (reserved_) pool_.release(options_.queue_bytes);
    reserved_ = created_ = false;
  }

 private:
  Result<SinkResult> finish(uint64_t dropped_packets);
  SinkResult abandon_to_writer();
  void close_fds();

  // First, next to the vtable pointer: the one member try_append() reads.
  std::unique_ptr<SinkChannel> channel_;
  WriterPoolImpl& pool_;
  SinkOptions options_;
  storage::Directory dir_;  // where the file lives; every operation is relative to it
  std::string final_name_;
  std::string partial_;  // the partial file's name in dir_
  bool attached_ = false;
  bool reserved_ = false;
  bool created_ = false;
  bool closed_ = false;
  bool abandoned_ = false;
  uint64_t start_ns_ = 0;
  std::optional<Result<SinkResult>> result_;
};

Status SinkImpl::init() {
  if (options_.queue_bytes < kMinQueueBytes) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("open sink {}: queue_bytes {} is below the minimum of {}",
                             options_.path.string(), options_.queue_bytes, kMinQueueBytes));
  }
  if (auto st = pool_.reserve(options_.queue_bytes); !st.ok()) {
    return std::move(st).error().wrap("open sink " + options_.path.string());
  }
  reserved_ = true;
  auto taken = dir_.exists(final_name_);
  if (!taken) return std::move(taken).error().wrap("open sink");
  if (*taken) {
    return Error(ErrorCode::kAlreadyExists,
                 "open sink: final file " + options_.path.string() + " already exists");
  }
  SinkChannel& c = *channel_;
  c.name = final_name_;
  c.on_failure = options_.on_failure;
  auto created = dir_.create_file(partial_, O_RDWR);
  if (!created) return std::move(created).error().wrap("open sink");
  c.buffered_fd = created->release();
  created_ = true;
  c.direct_fd = c.buffered_fd;
  c.writer.fallocate_ok = options_.preallocate;
  if (pool_.options().direct_io && direct_io_usable(c.buffered_fd, c.name)) {
    auto direct = dir_.open_file(partial_, O_WRONLY | O_DIRECT);
    if (direct) {
      c.direct_fd = c.odirect_fd = direct->release();
      c.direct = true;
    } else {
      // e.g. EINVAL on a filesystem without direct I/O: buffered writes work everywhere.
      spdlog::info("sink {}: O_DIRECT refused ({}), writing through the page cache", c.name,
                   direct.error().message());
    }
  }
  if (!c.queue.ok()) {
    return Error(ErrorCode::kResourceExhausted,
                 fmt::format("open sink {}: map {} bytes of queue memory: {}", c.name,
                             options_.queue_bytes, std::strerror(errno)));
  }
  if (!c.queue.push_file_header()) {
    return Error(ErrorCode::kInternal, "open sink " + c.name + ": queue too small for header");
  }
  start_ns_ = wall_clock_ns();
  pool_.attach(channel_.get());
  attached_ = true;
  return ok_status();
}

void SinkImpl::close_fds() {
  SinkChannel& c = *channel_;
  if (c.odirect_fd >= 0) ::close(c.odirect_fd);
  if (c.buffered_fd >= 0) ::close(c.buffered_fd);
  c.direct_fd = c.buffered_fd = c.odirect_fd = -1;
}

Result<SinkResult> SinkImpl::close(uint64_t dropped_packets) {
  if (result_) return *result_;
  closed_ = true;
  if (attached_) {
    attached_ = false;
    if (!pool_.detach(channel_.get())) {
      result_ = abandon_to_writer();
      return *result_;
    }
  }
  result_ = finish(dropped_packets);
  close_fds();
  if (reserved_) {
    pool_.release(options_.queue_bytes);
    reserved_ = false;
  }
  return *result_;
}

// The writer did not drain the sink in time: the disk does not complete writes. Nothing more
// touches the file here (a truncate, fsync or rename would hang as well); the writer thread still
// uses the channel, its ring and its descriptors, so they are left to it for good (a bounded
// leak, once per recording a hung disk catches). The partial file is repaired at the next start.
SinkResult SinkImpl::abandon_to_writer() {
  const auto timeout = pool_.options().drain_timeout;
  SinkResult r;
  r.abandoned = true;
  r.packets_written = channel_->queue.appended_packets();
  r.bytes_written = channel_->queue.appended_bytes();
  r.write_error = Error(ErrorCode::kInternal,
                        fmt::format("close sink {}: the disk did not complete the writes within "
                                    "{} ms (a hung device?); the partial file {} is repaired at "
                                    "the next start",
                                    options_.path.string(), timeout.count(), partial_),
                        ETIMEDOUT);
  spdlog::error("{}", r.write_error->message());
  channel_->queue.failure_errno().store(ETIMEDOUT);
  abandoned_ = true;  // the destructor leaves the channel to the writer
  reserved_ = false;  // the writer still holds that memory
  return r;
}

Result<SinkResult> SinkImpl::finish(uint64_t dropped_packets) {
  SinkChannel& c = *channel_;
  EncodingQueue& q = c.queue;
  const int fd = c.buffered_fd;
  SinkResult r;
  r.path = std::filesystem::absolute(options_.path);
  const std::string what = "close sink " + options_.path.string();
  uint64_t size = c.stream_end();

  int err = c.queue.failure_errno().load();
  if (err == 0) {
    const auto trailer = q.trailer(dropped_packets, start_ns_, wall_clock_ns());
    size_t done = 0;
    while (done < trailer.size()) {
      const ssize_t n = ::pwrite(fd, trailer.data() + done, trailer.size() - done,
                                 static_cast<off_t>(size + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : ENOSPC;
        break;
      }
      done += static_cast<size_t>(n);
    }
    if (err == 0) {
      size += trailer.size();
      r.packets_written = q.appended_packets();
      r.bytes_written = q.appended_bytes();
    } else {
      // The packets are all in; only the statistics blocks did not fit. The file without
      // them is valid, so cut it back to the end of the packet records.
      c.queue.failure_errno().store(err);
      r.packets_written = q.appended_packets();
      r.bytes_written = q.appended_bytes();
    }
  } else {
    // A write failed: keep the longest run of complete records that were written.
    const uint64_t limit = std::min(c.writer.failed_at, size);
    auto scan = scan_records(fd, limit);
    if (!scan.ok()) {
      // Not even the file header made it: there is no valid file to keep.
      if (auto s = dir_.unlink(partial_); !s.ok())
        spdlog::warn("sink {}: {}", final_name_, s.error().message());
      r.path.clear();
      r.packets_lost_write = q.appended_packets();
      r.bytes_lost_write = q.appended_bytes();
      r.write_error =
          Error::from_errno(what + ": write file header", err, ErrorCode::kResourceExhausted);
      return r;
    }
    size = scan->valid_end;
    r.packets_written = scan->packets;
    uint64_t synthesized = 0;
    if (q.format() == FileFormat::kPcap && q.appended_raw_packets() > 0) {
      // Raw (L3) packets carry 14 synthesized bytes in a pcap file; when every packet was raw
      // that is exact, for a mix it relies on recognizing the synthesized header.
      synthesized = q.appended_raw_packets() == q.appended_packets() ? scan->packets
                                                                     : scan->synthesized_records;
    }
    r.bytes_written = scan->record_bytes - synthesized * PcapEncoder::kSynthesizedEthernetSize;
  }
  if (err != 0 && c.floor_reached.load()) {
    r.write_error = Error(ErrorCode::kResourceExhausted,
                          fmt::format("{}: stopped writing before the filesystem would fall below "
                                      "its free-space floor of {} bytes",
                                      what, pool_.options().min_free_disk),
                          ENOSPC);
  } else if (err != 0) {
    r.write_error = Error::from_errno(fmt::format("{}: write to {}", what, partial_), err,
                                      err == ENOSPC || err == EFBIG || err == EDQUOT
                                          ? ErrorCode::kResourceExhausted
                                          : ErrorCode::kInternal);
  }
  r.packets_lost_write = q.appended_packets() - r.packets_written;
  r.bytes_lost_write = q.appended_bytes() - r.bytes_written;

  // Exact size: drops a partly written record after an error and frees fallocate()d space.
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return Error::from_errno(fmt::format("{}: truncate to {} bytes", what, size), errno);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    if (!r.write_error) r.write_error = Error::from_errno(what + ": fsync", e);
  }
  r.file_bytes = size;
  if (auto s = dir_.rename(partial_, final_name_); !s.ok()) {
    return std::move(s).error().wrap(what);
  }
  if (auto s = dir_.sync(); !s.ok()) {  // the rename is durable
    if (!r.write_error) r.write_error = std::move(s).error().wrap(what);
  }
  return r;
}

}  // namespace

Result<std::unique_ptr<Sink>> Sink::open(WriterPool& writers, SinkOptions options) {
  auto& pool = static_cast<WriterPoolImpl&>(writers);
  if (options.path.filename().empty()) {
    return Error(ErrorCode::kInvalidArgument, "open sink: path has no file name");
  }
  const std::filesystem::path parent =
      options.path.parent_path().empty() ? "." : options.path.parent_path();
  auto dir = storage::Directory::open(parent, options.permissions);
  if (!dir) return std::move(dir).error().wrap("open sink " + options.path.string());
  auto sink = std::make_unique<SinkImpl>(pool, std::move(options), std::move(*dir));
  if (auto st = sink->init(); !st.ok()) {
    // Undo what init() did: the partial file is removed, nothing is renamed.
    auto err = std::move(st).error();
    sink->abandon();
    return err;
  }
  return std::unique_ptr<Sink>(std::move(sink));
}

}  // namespace recorder::sink
