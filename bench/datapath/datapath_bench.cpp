// datapath_bench: how fast is the eBPF datapath?
//
//   datapath_bench prog [repeat]            ns per packet in the BPF program, for non-matching
//                                           and matching packets with 1 and 256 rules, from the
//                                           test-run average and from the kernel's BPF stats
//   datapath_bench rate <perf|ring> [dir] [seconds] [Mpps...]
//                                           drive the real tc program with BPF_PROG_TEST_RUN on
//                                           CPU 0 at each rate while the Datapath reads on CPU 1
//                                           into Router/Dispatcher and a pcap file in `dir`
//                                           (snap 128); prints captured / lost per rate.
//                                           dir "-": into a counting consumer instead
//   datapath_bench capture <iface> <seconds> <file.pcap> [perf|ring]
//                                           record UDP on <iface> (snap 128) into a pcap file
//                                           until SIGINT/SIGTERM or <seconds>, as tcpdump -w
//                                           does; like tcpdump it says "listening on <iface>"
//                                           on stderr once it captures (loading and verifying
//                                           the BPF programs takes seconds on a busy machine:
//                                           start the traffic after that line); at the end it
//                                           prints packets, losses and this process's CPU time
//                                           per packet, split by thread
//                                           (compare_capture.sh runs it next to tcpdump -w and
//                                           xdpdump -w and measures all three the same way)
//   datapath_bench latency <perf|ring> [packets] [quiet ms]
//                                           the latency of a quiet packet: one matching packet
//                                           run through the tc program (BPF_PROG_TEST_RUN),
//                                           nothing after it, the time until the Datapath's
//                                           reader hands it on; `packets` times (default 20)
//                                           with `quiet ms` (default 300) of silence between;
//                                           prints min, median and max in ms (the figure that
//                                           VethCapture.QuietPacketArrivesWithoutFurtherTraffic
//                                           only checks is finite)
//
// Run as root on an otherwise idle machine; quote medians of several runs.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <linux/pkt_cls.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "datapath/datapath.h"
#include "datapath/datapath_testing.h"
#include "datapath/loader.h"
#include "datapath/rule_table.h"
#include "dispatch/dispatcher.h"
#include "dispatch/filter.h"
#include "dispatch/recording.h"
#include "packet_builder.h"
#include "sink/sink.h"

namespace recorder {
namespace {

using Clock = std::chrono::steady_clock;

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Says which step failed and why; returns the exit status for it.
int failed(const char* step, const Error& error) {
  std::fprintf(stderr, "%s: %s\n", step, error.message().c_str());
  return 1;
}

Filter filter(const std::string& text) {
  auto f = parse_filter(text);
  if (!f) {
    std::fprintf(stderr, "bad filter %s: %s\n", text.c_str(), f.error().message().c_str());
    std::exit(2);
  }
  return *f;
}

std::vector<RuleEntry> rules_from(const std::vector<std::string>& texts, uint32_t snap = 128) {
  std::vector<RuleEntry> out;
  for (size_t i = 0; i < texts.size(); ++i) {
    RuleEntry e;
    e.slot = static_cast<uint16_t>(i);
    e.recording_slot = static_cast<uint16_t>(i);
    e.recording_id = 1 + i;
    e.filter = filter(texts[i]);
    e.snap_length = snap;
    out.push_back(e);
  }
  return out;
}

struct ProgRun {
  double test_run_ns = 0;  // bpf_test_run_opts average
  double stats_ns = 0;     // run_time_ns / run_cnt delta
};

ProgRun measure(int prog_fd, const std::vector<uint8_t>& packet, int repeat, perf_buffer* drain) {
  bpf_prog_info before{}, after{};
  uint32_t len = sizeof(before);
  bpf_obj_get_info_by_fd(prog_fd, &before, &len);
  // Batches of 1000 with the perf buffer drained in between, so matching runs emit for real.
  double total = 0;
  int runs = 0;
  for (int done = 0; done < repeat; done += 1000) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(),
                .data_size_in = static_cast<__u32>(packet.size()), .repeat = 1000);
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
      std::perror("bpf_prog_test_run_opts");
      std::exit(1);
    }
    total += opts.duration;
    ++runs;
    if (drain != nullptr) perf_buffer__consume(drain);
  }
  len = sizeof(after);
  bpf_obj_get_info_by_fd(prog_fd, &after, &len);
  ProgRun r;
  r.test_run_ns = total / runs;
  const uint64_t cnt = after.run_cnt - before.run_cnt;
  r.stats_ns = cnt == 0 ? 0 : double(after.run_time_ns - before.run_time_ns) / double(cnt);
  return r;
}

int prog_bench(int repeat) {
  pin(0);
  // Kernel BPF run-time stats for as long as this fd is open (no global sysctl change).
  const int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) std::perror("bpf_enable_stats (stats column will be 0)");
  datapath::LoadOptions lo;
  lo.transport = datapath::BpfTransport::kPerfBuffer;
  auto obj = datapath::BpfObject::load(lo);
  if (!obj) {
    std::fprintf(stderr, "%s\n", obj.error().message().c_str());
    return 1;
  }
  datapath::RuleTable table(**obj);
  // The reader's settings (as the Datapath's perf transport): wake up only at a 64 KiB
  // watermark. RECORDER_BENCH_NO_READER=1: no perf event at all, so emission fails at once,
  // which isolates the classification cost.
  perf_event_attr attr{};
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_BPF_OUTPUT;
  attr.sample_type = PERF_SAMPLE_RAW;
  attr.watermark = 1;
  attr.wakeup_watermark = 64 * 1024;
  perf_buffer* pb = std::getenv("RECORDER_BENCH_NO_READER") != nullptr
                        ? nullptr
                        : perf_buffer__new_raw(
                              (*obj)->events_fd(), 256, &attr,
                              [](void*, int, perf_event_header*) { return LIBBPF_PERF_EVENT_CONT; },
                              nullptr, nullptr);
  const int prog = (*obj)->program_fd(true, false);

  // Baseline: an empty tc program (r0 = TC_ACT_UNSPEC; exit) run the same way, i.e. the cost
  // of BPF_PROG_TEST_RUN and of the stats themselves; subtract it from the figures below.
  const bpf_insn empty[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = -1},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0}};
  const int empty_fd =
      bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "prt_empty", "GPL", empty, 2, nullptr);

  auto pkt = [](const char* src, uint8_t proto, uint16_t dport, const char* dst = "10.1.0.2") {
    test::PacketSpec s;
    s.source = src;
    s.destination = dst;
    s.protocol = proto;
    s.source_port = 40000;
    s.destination_port = dport;
    s.payload_length = 64;
    return test::build_packet(s);
  };
  struct Case {
    const char* name;
    std::vector<uint8_t> packet;
  };
  auto run_cases = [&](const char* rules_name, const std::vector<Case>& cases) {
    for (const auto& c : cases) {
      const ProgRun r = measure(prog, c.packet, repeat, pb);
      std::printf("%-38s %-44s %8.1f %8.1f\n", rules_name, c.name, r.test_run_ns, r.stats_ns);
    }
  };
  std::printf("%-38s %-44s %8s %8s\n", "rules", "packet", "run ns", "stats ns");
  if (empty_fd >= 0) {
    const ProgRun r = measure(empty_fd, pkt("10.0.0.1", 17, 1), repeat, nullptr);
    std::printf("%-38s %-44s %8.1f %8.1f\n", "baseline: empty tc program", "any", r.test_run_ns,
                r.stats_ns);
  }

  // RECORDER_MAX_RULES rules, the i-th given by text_of(i).
  auto max_rules = [](auto text_of) {
    std::vector<std::string> texts;
    for (int i = 0; i < RECORDER_MAX_RULES; ++i) texts.push_back(text_of(i));
    return texts;
  };
  // Installs the rules, then measures each case against them.
  auto with_rules = [&](const char* rules_name, const std::vector<std::string>& texts,
                        const std::vector<Case>& cases) {
    if (!table.install(rules_from(texts), 1).ok()) return false;
    run_cases(rules_name, cases);
    return true;
  };
  auto hex = [](int i) {
    char text[8];
    std::snprintf(text, sizeof(text), "%x", i);
    return std::string(text);
  };

  if (!with_rules("1 rule (10/8 -> :443 TCP)", {"10.0.0.0/8 0 any 443 TCP"},
                  {{"non-matching: UDP (protocol)", pkt("10.0.0.1", 17, 443)},
                   {"non-matching: TCP :80 (port)", pkt("10.0.0.1", 6, 80)},
                   {"non-matching: 192.168.1.1 (address)", pkt("192.168.1.1", 6, 443)},
                   {"matching (emits 128 B)", pkt("10.0.0.1", 6, 443)}}))
    return 1;
  if (!with_rules("256 rules (10/8 -> :1..256 TCP)", max_rules([](int i) {
                    return "10.0.0.0/8 0 any " + std::to_string(1 + i) + " TCP";
                  }),
                  {{"non-matching: UDP (protocol)", pkt("10.0.0.1", 17, 100)},
                   {"non-matching: TCP :8080 (port)", pkt("10.0.0.1", 6, 8080)},
                   {"non-matching: 192.168.1.1 :100 (address)", pkt("192.168.1.1", 6, 100)},
                   {"matching 1 of 256 (emits 128 B)", pkt("10.0.0.1", 6, 100)}}))
    return 1;
  if (!with_rules("256 rules (10.i/16 -> any, any)", max_rules([](int i) {
                    return "10." + std::to_string(i) + ".0.0/16 0 any 0 ANY";
                  }),
                  {{"non-matching: 192.168.1.1 (src LPM lookup)", pkt("192.168.1.1", 6, 80)},
                   {"matching 1 of 256 (emits 128 B)", pkt("10.7.0.1", 6, 80)}}))
    return 1;
  // Pod IPs: one host rule per pod, traffic from a neighbour in the same /16 that no rule
  // names (the address differs from the rule prefixes only in its last bits).
  if (!with_rules("256 rules (10.0.i.1/32 -> any, any)", max_rules([](int i) {
                    return "10.0." + std::to_string(i) + ".1/32 0 any 0 ANY";
                  }),
                  {{"non-matching: 10.0.3.2 (same /16)", pkt("10.0.3.2", 6, 80)},
                   {"matching 1 of 256 (emits 128 B)", pkt("10.0.7.1", 6, 80)}}))
    return 1;
  if (!with_rules("256 rules (fd00::i:1/128 -> any, any)",
                  max_rules([&](int i) { return "fd00::" + hex(i) + ":1/128 0 any 0 ANY"; }),
                  {{"non-matching: fd00::3:2 (same /64)", pkt("fd00::3:2", 6, 80, "fd00::ffff:2")},
                   {"matching 1 of 256 (emits 128 B)", pkt("fd00::7:1", 6, 80, "fd00::ffff:2")}}))
    return 1;
  if (!with_rules("256 rules (all match everything)",
                  max_rules([](int) { return std::string("any 0 any 0 ANY"); }),
                  {{"matching 256 of 256 (emits 128 B)", pkt("10.7.0.1", 6, 80)}}))
    return 1;
  if (pb != nullptr) perf_buffer__free(pb);
  if (empty_fd >= 0) close(empty_fd);
  if (stats_fd >= 0) close(stats_fd);
  return 0;
}

class CountingConsumer final : public PacketConsumer {
 public:
  void on_packet(const CapturedPacket&) noexcept override { ++packets; }
  void on_batch_end() noexcept override {}
  uint64_t packets = 0;
};

int rate_bench(datapath::Transport transport, const std::string& dir, double seconds,
               std::vector<double> rates_mpps) {
  if (rates_mpps.empty()) rates_mpps = {0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 0 /* unpaced */};
  test::PacketSpec spec;
  spec.protocol = 17;
  spec.destination_port = 5555;
  spec.payload_length = 128 - 42;  // a 128-byte frame, all of it captured (snap 128)
  const auto packet = test::build_packet(spec);

  std::printf("%-12s %-10s %12s %12s %12s %12s %12s %12s\n", "transport", "target", "driven",
              "driven Mpps", "captured", "kernel lost", "queue lost", "file MB");
  for (double mpps : rates_mpps) {
    datapath::Options options;
    options.interfaces = {"prtbenchnone*"};  // no interface: the bench drives the program
    options.transport = transport;
    options.buffer_bytes_per_cpu = 16u << 20;
    auto dp = datapath::Datapath::open(options);
    if (!dp) return failed("open the datapath", dp.error());
    const int prog = datapath::testing_access::program_fd(**dp, true, false);
    auto pool = sink::WriterPool::create({});
    if (!pool) return failed("create the writer pool", pool.error());
    sink::SinkOptions so;
    so.path = (dir == "-" ? std::string("/tmp") : dir) + "/datapath_bench.pcap";
    so.snap_length = 128;
    so.queue_bytes = 64u << 20;
    auto sink = sink::Sink::open(**pool, so);
    if (!sink) return failed("open the pcap file", sink.error());
    RecordingSpec rs;
    rs.include = {filter("any 0 any 5555 UDP")};
    rs.snap_length = 128;
    auto recording = std::make_shared<Recording>(1, rs, std::move(sink).value());
    Dispatcher dispatcher;
    Router router(dispatcher, dp->get());
    // The Router installs the recording's rule into the kernel (the Datapath is its
    // RuleListener), stamped with the table's generation, as in recorderd.
    if (auto added = router.add(recording); !added) {
      return failed("add the recording", added.error());
    }

    // dir "-": the reader feeds a counting consumer instead (the reader's own ceiling).
    const bool counting = dir == "-";
    CountingConsumer counter;
    std::atomic<bool> stop{false};
    std::thread reader([&] {
      pin(1);
      if (counting) {
        (void)(*dp)->run(counter, stop);
      } else {
        (void)(*dp)->run(dispatcher, stop);
      }
    });
    uint64_t driven = 0;
    const auto start = Clock::now();
    {
      pin(0);
      constexpr int kBatch = 256;
      const auto end = start + std::chrono::duration<double>(seconds);
      for (auto now = start; now < end; now = Clock::now()) {
        if (mpps > 0) {
          const double due = std::chrono::duration<double>(now - start).count() * mpps * 1e6;
          if (driven >= due) {
            std::this_thread::yield();
            continue;
          }
        }
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(),
                    .data_size_in = static_cast<__u32>(packet.size()), .repeat = kBatch);
        if (bpf_prog_test_run_opts(prog, &opts) != 0) return 1;
        driven += kBatch;
      }
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    (*dp)->wake();
    reader.join();
    router.remove(1);
    uint64_t kernel_lost = 0;
    for (const auto& l : (*dp)->take_kernel_losses()) kernel_lost += l.packets;
    auto result = recording->finish();
    RecordingStats st = recording->stats();
    if (counting) st.packets_captured = counter.packets;
    char target[32];
    std::snprintf(target, sizeof(target), mpps > 0 ? "%.1f Mpps" : "unpaced", mpps);
    std::printf("%-12s %-10s %12llu %12.2f %12llu %12llu %12llu %12.1f\n",
                transport == datapath::Transport::kPerfBuffer ? "perf" : "ring", target,
                (unsigned long long)driven, driven / elapsed / 1e6,
                (unsigned long long)st.packets_captured, (unsigned long long)kernel_lost,
                (unsigned long long)st.packets_lost_queue, result ? result->file_bytes / 1e6 : 0.0);
    std::fflush(stdout);
    if (result) std::filesystem::remove(result->path);
  }
  return 0;
}

// Counts packets and notes when the last one arrived (reader thread; read by the driver).
class ArrivalConsumer final : public PacketConsumer {
 public:
  void on_packet(const CapturedPacket&) noexcept override {
    arrived_ns.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    packets.fetch_add(1, std::memory_order_release);
  }
  void on_batch_end() noexcept override {}
  std::atomic<uint64_t> packets{0};
  std::atomic<int64_t> arrived_ns{0};
};

int latency_bench(datapath::Transport transport, int count, int quiet_ms) {
  datapath::Options options;
  options.interfaces = {"prtbenchnone*"};  // no interface: the bench drives the program
  options.transport = transport;
  auto dp = datapath::Datapath::open(options);
  if (!dp) return failed("open the datapath", dp.error());
  if (auto s = (*dp)->install_rules(rules_from({"any 0 any 5555 UDP"}), 1); !s) {
    return failed("install the rule", s.error());
  }
  const int prog = datapath::testing_access::program_fd(**dp, true, false);
  test::PacketSpec spec;
  spec.protocol = 17;
  spec.destination_port = 5555;
  spec.payload_length = 32;
  const auto packet = test::build_packet(spec);
  ArrivalConsumer consumer;
  std::atomic<bool> stop{false};
  std::thread reader([&] { (void)(*dp)->run(consumer, stop); });
  std::vector<double> ms;
  for (int i = 0; i < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(quiet_ms));
    const auto sent = Clock::now();
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(),
                .data_size_in = static_cast<__u32>(packet.size()), .repeat = 1);
    if (bpf_prog_test_run_opts(prog, &opts) != 0) {
      std::perror("bpf_prog_test_run_opts");
      break;
    }
    // Polls at 100 us so the driver's own wakeups stay out of the reader's way.
    const auto give_up = sent + std::chrono::seconds(10);
    while (consumer.packets.load(std::memory_order_acquire) < static_cast<uint64_t>(i + 1) &&
           Clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (consumer.packets.load(std::memory_order_acquire) < static_cast<uint64_t>(i + 1)) {
      std::fprintf(stderr, "packet %d did not arrive within 10 s\n", i);
      break;
    }
    const Clock::time_point arrived{Clock::duration(consumer.arrived_ns.load())};
    ms.push_back(std::chrono::duration<double, std::milli>(arrived - sent).count());
  }
  stop = true;
  (*dp)->wake();
  reader.join();
  if (ms.empty()) return 1;
  std::sort(ms.begin(), ms.end());
  std::printf("%s: %zu quiet packets, latency min %.2f median %.2f max %.2f ms\n",
              (*dp)->transport_name().c_str(), ms.size(), ms.front(), ms[ms.size() / 2], ms.back());
  return static_cast<int>(ms.size()) == count ? 0 : 1;
}

// CPU time (ns) of this process's threads grouped by name (from /proc/self/task/*/schedstat,
// exact to the ns), so a capture run says where its time went.
std::map<std::string, uint64_t> thread_cpu_ns() {
  std::map<std::string, uint64_t> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm"), sched(task.path() / "schedstat");
    std::string name;
    uint64_t ns = 0;
    if (std::getline(comm, name) && (sched >> ns)) {
      // iou-wrk-<tid>, sink-writer<n>: group by the name without its number.
      while (!name.empty() &&
             (std::isdigit(static_cast<unsigned char>(name.back())) || name.back() == '-')) {
        name.pop_back();
      }
      out[name] += ns;
    }
  }
  return out;
}

int capture(const std::string& iface, double seconds, const std::string& file,
            datapath::Transport transport) {
  // SIGINT/SIGTERM end the capture: blocked in every thread (set before any is created) and
  // taken by sigtimedwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  datapath::Options options;
  options.interfaces = {iface};
  options.transport = transport;
  auto dp = datapath::Datapath::open(options);
  if (!dp) return failed("open the datapath", dp.error());
  auto pool = sink::WriterPool::create({});
  if (!pool) return failed("create the writer pool", pool.error());
  sink::SinkOptions so;
  so.path = file;
  so.snap_length = 128;
  auto sink = sink::Sink::open(**pool, so);
  if (!sink) return failed("open the pcap file", sink.error());
  RecordingSpec rs;
  rs.include = {filter("any 0 any 0 UDP")};
  rs.snap_length = 128;
  auto recording = std::make_shared<Recording>(1, rs, std::move(sink).value());
  Dispatcher dispatcher;
  Router router(dispatcher, dp->get());
  if (auto added = router.add(recording); !added) return failed("add the recording", added.error());
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  std::atomic<bool> stop{false};
  uint64_t reader_ns = 0;
  std::thread reader([&] {
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    (void)(*dp)->run(dispatcher, stop);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    reader_ns = (t1.tv_sec - t0.tv_sec) * 1000000000ull + t1.tv_nsec - t0.tv_nsec;
  });
  // Ready: the programs are attached and the rule is in the kernel, so every packet from now on
  // is captured (the buffers keep what arrives before the reader's first round). The caller
  // starts its traffic on this line, as it does on tcpdump's.
  std::fprintf(stderr, "listening on %s (%s), snap length 128, UDP\n", iface.c_str(),
               (*dp)->transport_name().c_str());
  // Until interrupted (the way tcpdump is stopped) or `seconds` have passed; sleeping in
  // sigtimedwait costs no wakeups.
  const timespec limit{static_cast<time_t>(seconds),
                       static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
  sigtimedwait(&stop_signals, nullptr, &limit);
  const auto threads = thread_cpu_ns();
  stop = true;
  (*dp)->wake();
  reader.join();
  router.remove(1);
  uint64_t kernel_lost = 0;
  for (const auto& l : (*dp)->take_kernel_losses()) kernel_lost += l.packets;
  auto result = recording->finish();
  getrusage(RUSAGE_SELF, &after);
  auto us = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
  const double cpu_ns =
      (us(after.ru_utime) - us(before.ru_utime) + us(after.ru_stime) - us(before.ru_stime)) * 1e3;
  const RecordingStats st = recording->stats();
  std::printf("captured %llu lost_kernel %llu lost_queue %llu cpu_ms %.1f cpu_ns_per_packet %.0f\n",
              (unsigned long long)st.packets_captured, (unsigned long long)kernel_lost,
              (unsigned long long)st.packets_lost_queue, cpu_ns / 1e6,
              st.packets_captured ? cpu_ns / st.packets_captured : 0.0);
  if (st.packets_captured != 0) {
    std::printf("per packet: reader %.0f ns", double(reader_ns) / st.packets_captured);
    for (const auto& [name, ns] : threads) {
      if (name != "datapath_bench") {
        std::printf(", %s %.0f ns", name.c_str(), double(ns) / st.packets_captured);
      }
    }
    std::printf(" (threads alive before the stop)\n");
  }
  return result ? 0 : 1;
}

}  // namespace
}  // namespace recorder

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "prog") return recorder::prog_bench(argc > 2 ? std::atoi(argv[2]) : 200000);
  if (mode == "rate" && argc > 2) {
    const std::string t = argv[2];
    const auto transport = t == "ring" ? recorder::datapath::Transport::kRingBuffer
                                       : recorder::datapath::Transport::kPerfBuffer;
    const std::string dir = argc > 3 ? argv[3] : "/tmp";
    const double seconds = argc > 4 ? std::atof(argv[4]) : 2.0;
    std::vector<double> rates;
    for (int i = 5; i < argc; ++i) rates.push_back(std::atof(argv[i]));
    return recorder::rate_bench(transport, dir, seconds, rates);
  }
  if (mode == "capture" && argc > 4) {
    const bool ring = argc > 5 && std::string(argv[5]) == "ring";
    return recorder::capture(argv[2], std::atof(argv[3]), argv[4],
                             ring ? recorder::datapath::Transport::kRingBuffer
                                  : recorder::datapath::Transport::kPerfBuffer);
  }
  if (mode == "latency" && argc > 2) {
    const auto transport = std::string(argv[2]) == "ring"
                               ? recorder::datapath::Transport::kRingBuffer
                               : recorder::datapath::Transport::kPerfBuffer;
    return recorder::latency_bench(transport, argc > 3 ? std::atoi(argv[3]) : 20,
                                   argc > 4 ? std::atoi(argv[4]) : 300);
  }
  std::fprintf(stderr,
               "usage: %s prog [repeat] | rate <perf|ring> [dir] [seconds] [Mpps...] | capture "
               "<iface> <seconds> <file> [perf|ring] | latency <perf|ring> [packets] [quiet ms]\n",
               argv[0]);
  return 2;
}
