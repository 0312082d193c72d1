// pipeline_bench: the user-space recording pipeline under load.
//
// Synthetic packets (or a pcap file) are fed as fast as possible (or at --rate) through the
// real Dispatcher and Router into real Recordings, Sinks and the io_uring WriterPool, writing
// real files. Reports the offered rate, the end-to-end rate (packets in the files divided by the
// time until every file is closed), the source thread's CPU time per packet (dispatch and the
// appends, without the time it waited for a CPU), file bandwidth, losses and peak RSS. With
// --memcpy it measures memcpy bandwidth instead, for comparison in the same run
// (bench/run_pipeline.sh).
//
// With --ring each recording is a flight-recorder ring instead (ring/ring_manager.h: the same
// Recording with a RotatingSink, rotating --chunk-mib chunks and indexing every packet), so the
// same run prices the ring's hot path against a plain recording's; the end-to-end time then
// includes closing and indexing every chunk.
//
// Packets for recording r go to 10.<r/256>.<r%256>.0/24, so with --match one every packet
// matches exactly one recording; with --match all every packet matches every recording.
#include <sys/resource.h>
#include <time.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/dispatcher.h"
#include "dispatch/filter.h"
#include "dispatch/packet_info.h"
#include "dispatch/recording.h"
#include "ring/ring_manager.h"
#include "sink/sink.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace recorder;

struct Options {
  size_t packet_size = 64;
  uint64_t packets = 10'000'000;
  unsigned recordings = 1;
  std::string match = "one";
  std::string format = "pcap";
  uint32_t snap_length = 0;
  size_t queue_mib = 16;
  unsigned writer_threads = 1;
  bool plain_writes = false;
  bool buffered = false;
  double rate_pps = 0;
  bool kernel_bits = false;
  std::string out_dir = "/tmp/pipeline-bench";
  bool keep_files = false;
  bool memcpy_only = false;
  unsigned flows = 0;  // distinct flows (destination hosts) per recording; 0: 4096 / recordings
  bool ring = false;
  size_t chunk_mib = 256;
};

// What a ring needs from the recording side: the benchmark's Router and writer pool.
class BenchRingHost final : public ring::RingHost {
 public:
  BenchRingHost(Router& router, sink::WriterPool& writers) : router_(router), writers_(writers) {}
  uint64_t allocate_id() override { return next_id_++; }
  Status attach(std::shared_ptr<Recording> recording) override {
    return router_.add(std::move(recording));
  }
  void detach(uint64_t recording_id) override { router_.remove(recording_id); }
  void absorb_kernel_losses() override {}  // no kernel here
  sink::WriterPool& writers() override { return writers_; }

 private:
  Router& router_;
  sink::WriterPool& writers_;
  uint64_t next_id_ = 1u << 20;  // above the recordings' ids
};

// An Ethernet/IPv4/UDP frame of `size` bytes (>= 42) to 10.<hi>.<lo>.<host>.
std::vector<uint8_t> make_frame(size_t size, unsigned recording, unsigned host) {
  std::vector<uint8_t> f(std::max<size_t>(size, 42), 0);
  const uint8_t eth[14] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
  std::memcpy(f.data(), eth, sizeof eth);
  uint8_t* ip = f.data() + 14;
  const uint16_t ip_len = static_cast<uint16_t>(f.size() - 14);
  ip[0] = 0x45;
  ip[2] = ip_len >> 8;
  ip[3] = ip_len & 0xff;
  ip[8] = 64;
  ip[9] = 17;  // UDP
  ip[12] = 192, ip[13] = 168, ip[14] = 0, ip[15] = 1;
  ip[16] = 10, ip[17] = (recording >> 8) & 0xff, ip[18] = recording & 0xff, ip[19] = 1 + host % 250;
  uint8_t* udp = ip + 20;
  const uint16_t udp_len = static_cast<uint16_t>(ip_len - 20);
  udp[0] = 0x9c, udp[1] = 0x40;  // 40000
  udp[2] = 0x13, udp[3] = 0x88;  // 5000
  udp[4] = udp_len >> 8, udp[5] = udp_len & 0xff;
  for (size_t i = 42; i < f.size(); ++i) f[i] = static_cast<uint8_t>(i);
  return f;
}

double memcpy_gib_per_s() {
  const size_t size = 256u << 20;
  std::vector<uint8_t> a(size, 1), b(size, 2);
  std::memcpy(b.data(), a.data(), size);  // fault the pages in
  const int rounds = 8;
  auto t0 = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    std::memcpy(i % 2 ? a.data() : b.data(), i % 2 ? b.data() : a.data(), size);
  }
  std::chrono::duration<double> dt = Clock::now() - t0;
  return rounds * static_cast<double>(size) / dt.count() / (1u << 30);
}

// CPU time of the calling thread: unlike the wall clock, it does not count the time the thread
// waited for a CPU, so on a shared machine it is the steadier measure of the per-packet cost.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

int run(const Options& o) {
  namespace fs = std::filesystem;
  // Only what this run creates is removed afterwards: the files, and the directory if it made
  // it (an --out-dir such as /tmp keeps everything else in it).
  const bool made_dir = fs::create_directories(o.out_dir);
  std::vector<fs::path> files;

  sink::WriterPool::Options pool_options;
  pool_options.threads = o.writer_threads;
  pool_options.use_io_uring = !o.plain_writes;
  pool_options.direct_io = !o.buffered;
  // A ring holds up to four chunk sinks at once (the one written, two opened ahead, one closing).
  pool_options.total_queue_bytes =
      static_cast<size_t>(o.recordings) * (o.ring ? 4 : 1) * (o.queue_mib << 20) + 1;
  auto pool = sink::WriterPool::create(pool_options);
  if (!pool.ok()) {
    fmt::print(stderr, "writer pool: {}\n", pool.error().message());
    return 1;
  }

  Dispatcher dispatcher;
  Router router(dispatcher);
  std::vector<std::shared_ptr<Recording>> recordings;
  BenchRingHost ring_host(router, **pool);
  std::unique_ptr<ring::RingManager> rings;
  if (o.ring) {
    ring::RingManagerOptions ring_options;
    ring_options.path = fs::path(o.out_dir) / "rings";
    ring_options.ring.queue_bytes = o.queue_mib << 20;
    ring_options.max_rings = o.recordings;
    auto created = ring::RingManager::create(ring_options, ring_host);
    if (!created.ok()) {
      fmt::print(stderr, "rings: {}\n", created.error().message());
      return 1;
    }
    rings = std::move(*created);
  }
  for (unsigned r = 0; r < o.recordings; ++r) {
    const std::string dst =
        o.match == "all" ? "10.0.0.0/8" : fmt::format("10.{}.{}.0/24", (r >> 8) & 0xff, r & 0xff);
    auto filter = parse_filter(fmt::format("0.0.0.0/0 0 {} 0 ANY", dst));
    if (!filter.ok()) {
      fmt::print(stderr, "filter: {}\n", filter.error().message());
      return 1;
    }
    if (o.ring) {
      ring::RingSpec spec;
      spec.name = fmt::format("bench-{}", r);
      spec.include.push_back(*filter);
      spec.snap_length = o.snap_length ? o.snap_length : 262144;
      spec.format = o.format == "pcapng" ? sink::FileFormat::kPcapng : sink::FileFormat::kPcap;
      spec.max_bytes = uint64_t{1} << 50;  // never deletes during the run
      spec.chunk_bytes = uint64_t{o.chunk_mib} << 20;
      spec.chunk_duration = {};
      if (auto started = rings->start(spec); !started.ok()) {
        fmt::print(stderr, "ring: {}\n", started.error().message());
        return 1;
      }
      continue;
    }
    sink::SinkOptions sink_options;
    sink_options.format =
        o.format == "pcapng" ? sink::FileFormat::kPcapng : sink::FileFormat::kPcap;
    sink_options.path = fs::path(o.out_dir) /
                        fmt::format("bench_{}.{}", r, sink::file_extension(sink_options.format));
    files.push_back(sink_options.path);
    sink_options.snap_length = o.snap_length ? o.snap_length : 262144;
    sink_options.queue_bytes = o.queue_mib << 20;
    auto sink = sink::Sink::open(**pool, sink_options);
    if (!sink.ok()) {
      fmt::print(stderr, "sink: {}\n", sink.error().message());
      return 1;
    }
    RecordingSpec spec;
    spec.include.push_back(*filter);
    spec.snap_length = o.snap_length;
    auto recording = std::make_shared<Recording>(r + 1, spec, std::move(*sink));
    if (auto added = router.add(recording); !added.ok()) {
      fmt::print(stderr, "router: {}\n", added.error().message());
      return 1;
    }
    recordings.push_back(std::move(recording));
  }

  // A pool of distinct frames, spread over the recordings.
  const unsigned per_recording =
      o.flows != 0 ? std::min(o.flows, 250u) : std::max(1u, 4096u / o.recordings);
  std::vector<std::vector<uint8_t>> frames;
  for (unsigned r = 0; r < o.recordings; ++r) {
    for (unsigned h = 0; h < per_recording; ++h) frames.push_back(make_frame(o.packet_size, r, h));
  }
  // Interleave so consecutive packets go to different recordings.
  std::vector<CapturedPacket> packets(frames.size());
  std::vector<RuleMask> masks(frames.size());
  auto table = router.current();
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto& f = frames[(i % o.recordings) * per_recording + (i / o.recordings) % per_recording];
    packets[i].data = f;
    packets[i].original_length = static_cast<uint32_t>(f.size());
    packets[i].ifindex = 1;
    packets[i].direction = Direction::kIngress;
    if (o.kernel_bits) {
      // As the eBPF source delivers them: classified by the kernel with the rules of the
      // current table, stamped with its generation (dispatch drops bits of any older one as
      // stale), so dispatch only routes.
      masks[i] = table->classifier.classify(decode_packet(f, LinkType::kEthernet));
      packets[i].kernel_rules = &masks[i];
      packets[i].rule_generation = table->generation;
    }
  }

  const auto t0 = Clock::now();
  const double cpu0 = thread_cpu_s();
  const uint64_t wall0 = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  constexpr uint64_t kBatch = 64;
  for (uint64_t i = 0; i < o.packets; ++i) {
    CapturedPacket& p = packets[i % packets.size()];
    p.timestamp_ns = wall0 + i;
    dispatcher.on_packet(p);
    if (i % kBatch == kBatch - 1) {
      dispatcher.on_batch_end();
      if (o.rate_pps > 0) {
        const auto due = t0 + std::chrono::duration<double>((i + 1) / o.rate_pps);
        while (Clock::now() < due) std::this_thread::yield();
      }
    }
  }
  dispatcher.on_batch_end();
  const auto t_source = Clock::now();
  const double source_cpu_s = thread_cpu_s() - cpu0;

  // Stop every recording, then finish them concurrently (drain, trailer, fsync, rename), as the
  // daemon does on shutdown: the end-to-end time includes getting every byte into its file.
  // Rings: stopped one by one (each closes and indexes its last chunk).
  uint64_t captured = 0, lost = 0, file_bytes = 0;
  for (unsigned r = 0; o.ring && r < o.recordings; ++r) {
    auto stopped = rings->stop(fmt::format("bench-{}", r));
    if (!stopped.ok()) {
      fmt::print(stderr, "ring stop: {}\n", stopped.error().message());
      return 1;
    }
    captured += stopped->stats.packets_captured;
    lost += stopped->stats.packets_lost();
    file_bytes += stopped->bytes;
  }
  for (auto& recording : recordings) router.remove(recording->id());
  std::vector<Result<sink::SinkResult>> results(recordings.size(),
                                                Error(ErrorCode::kInternal, "not finished"));
  {
    std::vector<std::jthread> finishers;
    for (size_t i = 0; i < recordings.size(); ++i) {
      finishers.emplace_back([&, i] { results[i] = recordings[i]->finish(); });
    }
  }
  for (size_t i = 0; i < recordings.size(); ++i) {
    if (!results[i].ok()) {
      fmt::print(stderr, "finish: {}\n", results[i].error().message());
      return 1;
    }
    file_bytes += results[i]->file_bytes;
    const RecordingStats s = recordings[i]->stats();
    captured += s.packets_captured;
    lost += s.packets_lost();
  }
  const auto t_done = Clock::now();
  // Packets that reached no recording: none with these filters, so anything here means the
  // benchmark measured less than it offered.
  const DispatchCounters routed = dispatcher.counters();
  const double source_s = std::chrono::duration<double>(t_source - t0).count();
  const double total_s = std::chrono::duration<double>(t_done - t0).count();

  fmt::print(
      "packet_size={} {}={} match={} format={} writer={} packets={} "
      "offered_pps={:.0f} source_cpu_ns_per_packet={:.1f} captured_pps={:.0f} file_MBps={:.1f} "
      "captured={} lost={} "
      "loss_pct={:.3f} unmatched={} stale_rule_bits={} source_s={:.3f} total_s={:.3f} "
      "peak_rss_MiB={:.1f} queue_MiB={}\n",
      o.packet_size, o.ring ? "rings" : "recordings", o.recordings, o.match, o.format,
      (*pool)->backend(), o.packets, o.packets / source_s,
      source_cpu_s * 1e9 / static_cast<double>(o.packets), captured / total_s,
      file_bytes / total_s / 1e6, captured, lost,
      100.0 * static_cast<double>(lost) / static_cast<double>(o.packets), routed.packets_unmatched,
      routed.stale_rule_bits, source_s, total_s, peak_rss_kib() / 1024.0,
      o.recordings * o.queue_mib);
  if (!o.keep_files) {
    std::error_code ec;
    for (const auto& f : files) fs::remove(f, ec);
    for (unsigned r = 0; o.ring && r < o.recordings; ++r) {
      (void)rings->remove(fmt::format("bench-{}", r));
    }
    fs::remove(fs::path(o.out_dir) / "rings", ec);
    if (made_dir) fs::remove(o.out_dir, ec);  // only if empty: never someone else's files
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"pcap-recorder pipeline benchmark: dispatch -> sink queues -> io_uring -> files"};
  app.add_option("--packet-size", o.packet_size, "frame size in bytes (>= 42)");
  app.add_option("--packets", o.packets, "packets to offer");
  app.add_option("--recordings", o.recordings, "number of recordings (1..256)")
      ->check(CLI::Range(1, 256));
  app.add_option("--match", o.match, "one: each packet matches one recording; all: every one")
      ->check(CLI::IsMember({"one", "all"}));
  app.add_option("--format", o.format, "pcap or pcapng")->check(CLI::IsMember({"pcap", "pcapng"}));
  app.add_option("--snap-length", o.snap_length, "snap length (0 = whole packet)");
  app.add_option("--queue-mib", o.queue_mib, "queue memory per recording in MiB");
  app.add_option("--writer-threads", o.writer_threads, "writer threads");
  app.add_flag("--plain-writes", o.plain_writes, "use pwrite instead of io_uring");
  app.add_flag("--buffered", o.buffered, "do not use O_DIRECT");
  app.add_option("--rate", o.rate_pps, "offer at most this many packets per second (0 = max)");
  app.add_flag("--kernel-bits", o.kernel_bits,
               "packets carry pre-computed rule masks, as the eBPF source delivers them");
  app.add_option(
      "--out-dir", o.out_dir,
      "where the files go (the files, and the directory if created, are removed afterwards)");
  app.add_flag("--keep-files", o.keep_files, "keep the files");
  app.add_option("--flows", o.flows,
                 "distinct flows per recording, packets taking them in turn (1..250; default "
                 "4096 frames per recording over 250 flows)");
  app.add_flag("--ring", o.ring,
               "each recording is a flight-recorder ring (chunk files and their index) instead");
  app.add_option("--chunk-mib", o.chunk_mib, "a ring's chunk size in MiB (with --ring)");
  app.add_flag("--memcpy", o.memcpy_only, "only measure memcpy bandwidth");
  CLI11_PARSE(app, argc, argv);
  if (o.memcpy_only) {
    fmt::print("memcpy_GiBps={:.2f}\n", memcpy_gib_per_s());
    return 0;
  }
  return run(o);
}
