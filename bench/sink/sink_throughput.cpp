// sink_throughput: how fast one sink gets packets into a file, per writer backend.
//
//   sink_throughput [dir] [total_MiB] [packet_bytes] [reps]
//
// The producer appends `packet_bytes` packets (pcap) as fast as it can and retries on a full
// queue (so nothing is lost and the figure is the sustained rate of producer + writer); the time
// runs from the first append to the return of close() (drain, trailer, ftruncate, fsync,
// rename). Prints the median of `reps` runs per backend, and how often the queue was full.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "sink/encoding_queue.h"
#include "sink/sink.h"

using namespace recorder;
using namespace recorder::sink;

namespace {

struct Run {
  double mb_per_s;
  double mpps;
  uint64_t full_retries;
};

Run run_once(const std::filesystem::path& dir, bool uring, bool direct, uint64_t total,
             size_t packet_bytes) {
  WriterPool::Options po;
  po.use_io_uring = uring;
  po.direct_io = direct;
  auto pool = WriterPool::create(po);
  if (!pool.ok()) {
    std::fprintf(stderr, "%s\n", pool.error().message().c_str());
    std::exit(1);
  }
  const auto path = dir / "sink_throughput.pcap";
  std::filesystem::remove(path);
  SinkOptions so;
  so.path = path;
  auto sink = Sink::open(**pool, so);
  if (!sink.ok()) {
    std::fprintf(stderr, "%s\n", sink.error().message().c_str());
    std::exit(1);
  }
  std::vector<uint8_t> frame(packet_bytes, 0x5a);
  CapturedPacket p;
  p.data = frame;
  p.original_length = static_cast<uint32_t>(packet_bytes);
  p.ifindex = 1;
  const uint64_t n = total / packet_bytes;
  uint64_t retries = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    p.timestamp_ns = i;
    AppendResult r;
    while ((r = (*sink)->try_append(p)) == AppendResult::kQueueFull) ++retries;
    if (r != AppendResult::kAppended) {
      std::fprintf(stderr, "append failed: errno %d\n", (*sink)->failure_errno());
      std::exit(1);
    }
  }
  auto res = (*sink)->close(0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res.ok()) {
    std::fprintf(stderr, "%s\n", res.error().message().c_str());
    std::exit(1);
  }
  std::filesystem::remove(path);
  return {static_cast<double>(res->file_bytes) / secs / 1e6, static_cast<double>(n) / secs / 1e6,
          retries};
}

// An ingress packet on interface 1 carrying `frame` whole.
CapturedPacket packet_over(const std::vector<uint8_t>& frame) {
  CapturedPacket p;
  p.data = frame;
  p.original_length = static_cast<uint32_t>(frame.size());
  p.ifindex = 1;
  p.direction = Direction::kIngress;
  return p;
}

// The producer's share alone: encode into the queue while a consumer thread pops into a 1 MiB
// buffer and throws it away (no disk). ns per try_append on the dispatch thread.
void queue_only(size_t packet_bytes, FileFormat format) {
  EncodingQueue q(format, 262144, 16u << 20);
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    std::vector<uint8_t> buf(1u << 20);
    while (!stop.load(std::memory_order_relaxed)) {
      if (q.pop(buf.data(), buf.size()) == 0) std::this_thread::yield();
    }
  });
  const std::vector<uint8_t> frame(packet_bytes, 0x5a);
  CapturedPacket p = packet_over(frame);
  const uint64_t n = (4ull << 30) / (packet_bytes + 32);
  uint64_t full = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    p.timestamp_ns = i;
    while (q.try_append(p) == AppendResult::kQueueFull) ++full;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop = true;
  consumer.join();
  std::printf("queue only, %-6s %5zu B: %6.1f ns/append, %6.0f MB/s, queue-full retries %llu\n",
              format == FileFormat::kPcap ? "pcap" : "pcapng", packet_bytes, secs * 1e9 / n,
              static_cast<double>(n * packet_bytes) / secs / 1e6,
              static_cast<unsigned long long>(full));
}

// The producer alone, no consumer at all: a 1 GiB queue filled until full. Encoding and copy
// cost per packet without any cache-line traffic with a writer.
void producer_only(size_t packet_bytes, FileFormat format) {
  EncodingQueue q(format, 262144, 1u << 30);
  const std::vector<uint8_t> frame(packet_bytes, 0x5a);
  CapturedPacket p = packet_over(frame);
  // Fill once and empty it so the measured pass runs on memory that is already mapped.
  while (q.try_append(p) == AppendResult::kAppended) {
  }
  std::vector<uint8_t> sink_buf(1u << 20);
  while (q.pop(sink_buf.data(), sink_buf.size()) > 0) {
  }
  uint64_t n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (q.try_append(p) == AppendResult::kAppended) p.timestamp_ns = ++n;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("producer only, %-6s %5zu B: %6.1f ns/append\n",
              format == FileFormat::kPcap ? "pcap" : "pcapng", packet_bytes, secs * 1e9 / n);
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "/tmp";
  const uint64_t total = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2048) << 20;
  const size_t packet = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1500;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 3;
  struct Config {
    const char* name;
    bool uring, direct;
  } configs[] = {{"io_uring + O_DIRECT", true, true},
                 {"pwrite + O_DIRECT", false, true},
                 {"io_uring buffered", true, false},
                 {"pwrite buffered", false, false}};
  std::printf("%s: %llu MiB of %zu-byte packets per run, median of %d\n", dir.c_str(),
              static_cast<unsigned long long>(total >> 20), packet, reps);
  for (const auto& c : configs) {
    std::vector<double> mbs, mpps;
    uint64_t retries = 0;
    for (int i = 0; i < reps; ++i) {
      const Run r = run_once(dir, c.uring, c.direct, total, packet);
      mbs.push_back(r.mb_per_s);
      mpps.push_back(r.mpps);
      retries += r.full_retries;
    }
    std::sort(mbs.begin(), mbs.end());
    std::sort(mpps.begin(), mpps.end());
    std::printf("%-22s %8.0f MB/s %6.2f Mpkt/s  (MB/s runs:", c.name, mbs[mbs.size() / 2],
                mpps[mpps.size() / 2]);
    for (double m : mbs) std::printf(" %.0f", m);
    std::printf(")  queue-full retries/run %llu\n",
                static_cast<unsigned long long>(retries / static_cast<uint64_t>(reps)));
  }
  producer_only(64, FileFormat::kPcap);
  producer_only(1500, FileFormat::kPcap);
  producer_only(64, FileFormat::kPcapng);
  producer_only(1500, FileFormat::kPcapng);
  queue_only(64, FileFormat::kPcap);
  queue_only(1500, FileFormat::kPcap);
  queue_only(64, FileFormat::kPcapng);
  queue_only(1500, FileFormat::kPcapng);
  return 0;
}
