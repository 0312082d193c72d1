// Veth integration: the real Datapath attached with tc to a veth whose peer lives in a
// namespace the test creates, real traffic (ping, UDP and TCP over IPv4 and IPv6), a recording
// through Router/Dispatcher into a real pcap Sink, compared packet for packet with a tcpdump
// capture of the same run using an equivalent filter expression. Also: interface churn with a
// glob, exact tc cleanup, and errors for unknown interfaces.
#include <gtest/gtest.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "datapath/datapath.h"
#include "dispatch/dispatcher.h"
#include "dispatch/filter.h"
#include "dispatch/recording.h"
#include "file_recording.h"
#include "netns.h"
#include "packet_builder.h"
#include "pcap_file.h"
#include "privileged.h"
#include "sink/sink.h"
#include "source_thread.h"
#include "tcpdump.h"
#include "temp_dir.h"

namespace recorder {
namespace {

using datapath::Datapath;
using datapath::Transport;
using testing::add_foreign_filter;
using testing::hook_programs;
using testing::sh;
using testing::sh_output;
using testing::SourceThread;
using testing::tc_clean;
using testing::unique_name;
using testing::VethNamespace;

// Counts packets per ifindex (a consumer without dispatch, for the churn test).
class CountingConsumer final : public PacketConsumer {
 public:
  void on_packet(const CapturedPacket& p) noexcept override {
    if (p.ifindex < counts_.size()) counts_[p.ifindex].fetch_add(1, std::memory_order_relaxed);
  }
  void on_batch_end() noexcept override {}
  uint64_t count(int ifindex) const { return counts_[ifindex].load(); }

 private:
  std::array<std::atomic<uint64_t>, 65536> counts_{};
};

// Forwards to the dispatcher; while held, the reader stops after a round's batch end (a
// starved reader, deterministically) until release().
class HoldableConsumer final : public PacketConsumer {
 public:
  explicit HoldableConsumer(PacketConsumer& inner) : inner_(inner) {}
  void on_packet(const CapturedPacket& p) noexcept override { inner_.on_packet(p); }
  void on_batch_end() noexcept override {
    inner_.on_batch_end();
    std::unique_lock lock(mutex_);
    if (!hold_) return;
    held_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !hold_; });
    held_ = false;
  }
  void hold() {
    std::lock_guard lock(mutex_);
    hold_ = true;
  }
  // Whether the reader stopped at a batch end within 10 s (it must be woken to get there).
  bool wait_held() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return held_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    hold_ = false;
    changed_.notify_all();
  }

 private:
  PacketConsumer& inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool hold_ = false;
  bool held_ = false;
};

Filter must_parse(const std::string& text) {
  auto f = parse_filter(text);
  EXPECT_TRUE(f.ok()) << text << ": " << (f.ok() ? "" : f.error().message());
  return f.ok() ? *f : Filter{};
}

template <typename Pred>
bool wait_for(Pred pred, int timeout_ms = 3000) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

class VethCapture : public ::testing::TestWithParam<Transport> {};

TEST_P(VethCapture, RecordingEqualsTcpdumpPacketForPacket) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  test::TempDir dir("prt_dp");

  const std::string b4 = net.peer4(), a4 = net.host4(), b6 = net.peer6(), a6 = net.host6();
  RecordingSpec spec;
  spec.include = {
      must_parse(a4 + " 0 " + b4 + " 5555 UDP"), must_parse(a6 + " 0 " + b6 + " 5555 UDP"),
      must_parse("any 0 " + b4 + " 0 ICMP"),     must_parse(b4 + " 0 any 0 ICMP"),
      must_parse("any 0 " + b4 + " 6666 TCP"),   must_parse(b4 + " 6666 any 0 TCP"),
      must_parse("any 0 " + b6 + " 6667 TCP"),   must_parse(b6 + " 6667 any 0 TCP")};
  const std::string bpf_filter =
      "(udp and src host " + a4 + " and dst host " + b4 +
      " and dst port 5555) or (ip6 and udp "
      "and src host " +
      a6 + " and dst host " + b6 + " and dst port 5555) or (icmp and dst host " + b4 +
      ") or (icmp and src host " + b4 + ") or (tcp and dst host " + b4 +
      " and dst port 6666) or (tcp and src host " + b4 +
      " and src port 6666) or (ip6 and tcp "
      "and dst host " +
      b6 + " and dst port 6667) or (ip6 and tcp and src host " + b6 + " and src port 6667)";

  testing::Tcpdump tcpdump(net.host(), dir.path().string() + "/tcpdump.pcap", bpf_filter,
                           dir.path().string() + "/tcpdump.log");
  ASSERT_TRUE(tcpdump.ready()) << "tcpdump did not start";

  datapath::Options options;
  options.interfaces = {net.host()};
  options.transport = GetParam();
  options.buffer_bytes_per_cpu = 4u << 20;
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  ASSERT_EQ((*dp)->attached_interfaces().size(), 1u);
  EXPECT_FALSE(tc_clean(net.host()));

  auto pool = sink::WriterPool::create({});
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  auto recording = testing::file_recording(**pool, 1, spec, dir.path() / "recording.pcap");
  ASSERT_NE(recording, nullptr);

  Dispatcher dispatcher;
  Router router(dispatcher, dp->get());
  ASSERT_TRUE(router.add(recording).ok());
  {
    SourceThread source(**dp, dispatcher);
    net.send_udp(false, 5555, 300, 200);
    net.send_udp(true, 5555, 200, 700);
    net.send_udp(false, 5556, 50, 100);  // not recorded
    EXPECT_EQ(sh("ping -c 5 -i 0.01 -q " + b4 + " >/dev/null"), 0);
    // TCP bulk with TSO on (the veth default): GSO super-packets at the host's egress.
    EXPECT_TRUE(net.tcp_exchange(false, 6666, 200000));
    EXPECT_TRUE(net.tcp_exchange(true, 6667, 20000));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto stopped = source.stop();
    EXPECT_TRUE(stopped.ok()) << stopped.error().message();
  }
  tcpdump.stop();
  router.remove(1);
  auto result = recording->finish();
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_TRUE((*dp)->take_kernel_losses().empty());
  const RecordingStats stats = recording->stats();
  EXPECT_EQ(stats.packets_lost(), 0u);

  auto ours = test::read_pcap(result->path.string());
  auto theirs = test::read_pcap(dir.path().string() + "/tcpdump.pcap");
  EXPECT_EQ(ours.link_type, 1);  // DLT_EN10MB
  ASSERT_GE(theirs.records.size(), 300u + 200u + 10u);
  // tcpdump is the reference, but it can drop under load; it says how many packets its filter
  // accepted, and that is the number we must have.
  const long tcpdump_dropped = tcpdump.summary(" packets dropped by kernel");
  const long tcpdump_received = tcpdump.summary(" packets received by filter");
  EXPECT_EQ(static_cast<long>(ours.records.size()), tcpdump_received);
  if (tcpdump_dropped == 0) {
    EXPECT_EQ(ours.records.size(), theirs.records.size());
  }
  // The same packets: per-CPU buffers may interleave CPUs differently from tcpdump's single
  // socket, so compare as multisets, and each packet's timestamps must agree closely.
  test::FrameMultimap<uint64_t> reference;
  for (const auto& r : theirs.records) reference.emplace(r.data, r.timestamp_ns);
  size_t missing = 0, late = 0;
  for (const auto& r : ours.records) {
    auto it = reference.find(r.data);
    if (it == reference.end()) {
      ++missing;
      continue;
    }
    const int64_t delta = static_cast<int64_t>(r.timestamp_ns - it->second);
    if (std::abs(delta) > 20'000'000) ++late;  // 20 ms
    EXPECT_EQ(r.original_length, r.data.size());
    reference.erase(it);
  }
  if (tcpdump_dropped == 0) {
    EXPECT_EQ(missing, 0u) << "packets in our file that tcpdump did not capture";
  }
  EXPECT_EQ(reference.size(), 0u) << "packets tcpdump captured that we did not";
  EXPECT_EQ(late, 0u) << "timestamps more than 20 ms away from tcpdump's";
  size_t gso = 0;
  for (const auto& r : ours.records) gso += r.original_length > 1514 ? 1 : 0;
  EXPECT_GT(gso, 0u) << "no GSO super-packet (longer than the MTU) was recorded";

  dp->reset();
  EXPECT_TRUE(tc_clean(net.host())) << sh_output("tc filter show dev " + net.host() + " ingress");
}

// A recording removed right after its traffic: the packets the kernel matched before the stop
// are still in the per-CPU buffers (the reader wakes at most every 100 ms here), and removal
// drains them into the recording before its routing entry goes.
TEST_P(VethCapture, StopRightAfterTrafficKeepsEveryMatchedPacket) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("d"));
  ASSERT_TRUE(net.ok());
  test::TempDir dir("prt_dp");
  datapath::Options options;
  options.interfaces = {net.host()};
  options.transport = GetParam();
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  auto pool = sink::WriterPool::create({});
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  Dispatcher dispatcher;
  Router router(dispatcher, dp->get());
  SourceThread source(**dp, dispatcher);
  for (uint64_t id = 1; id <= 5; ++id) {
    RecordingSpec spec;
    spec.include = {must_parse("any 0 " + net.peer4() + " 7000 UDP")};
    auto recording = testing::file_recording(**pool, id, spec,
                                             dir.path() / ("r" + std::to_string(id) + ".pcap"));
    ASSERT_NE(recording, nullptr);
    ASSERT_TRUE(router.add(recording).ok());
    // tc egress runs in the sender's syscall: when send_udp returns, every packet is in the
    // kernel's buffers.
    net.send_udp(false, 7000, 50, 100);
    router.remove(id);
    auto result = recording->finish();
    ASSERT_TRUE(result.ok()) << result.error().message();
    const RecordingStats stats = recording->stats();
    EXPECT_EQ(stats.packets_captured + stats.packets_lost(), 50u) << "recording " << id;
    EXPECT_EQ(test::read_pcap(result->path.string()).records.size(), stats.packets_captured);
  }
  EXPECT_TRUE(source.stop().ok());
}

// A recording stopped while the reader is starved (held after a round, as under a CPU cap):
// its packets wait in the kernel's buffers past the stop, and removal waits for the reader
// instead of giving up, so every one of them is in the file or counted lost, none unmatched.
// The hold outlasts the one-second deadline removal used to have.
TEST_P(VethCapture, StopWhileTheReaderIsStarvedAccountsForEveryMatchedPacket) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("d"));
  ASSERT_TRUE(net.ok());
  test::TempDir dir("prt_dp");
  datapath::Options options;
  options.interfaces = {net.host()};
  options.transport = GetParam();
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  auto pool = sink::WriterPool::create({});
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  Dispatcher dispatcher;
  Router router(dispatcher, dp->get());
  HoldableConsumer reader_hold(dispatcher);
  SourceThread source(**dp, reader_hold);
  RecordingSpec spec;
  spec.include = {must_parse("any 0 " + net.peer4() + " 7000 UDP")};
  auto recording = testing::file_recording(**pool, 1, spec, dir.path() / "r1.pcap");
  ASSERT_NE(recording, nullptr);
  ASSERT_TRUE(router.add(recording).ok());

  reader_hold.hold();
  (*dp)->wake();
  const bool held = reader_hold.wait_held();
  std::atomic<bool> removed{false};
  std::thread remover;
  if (held) {
    // tc egress runs in the sender's syscall: when send_udp returns, every packet is in the
    // kernel's buffers, and the held reader has not read them.
    net.send_udp(false, 7000, 50, 100);
    remover = std::thread([&] {
      router.remove(1);
      removed = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_FALSE(removed.load()) << "removal returned while the reader still held the packets";
  }
  reader_hold.release();
  if (remover.joinable()) remover.join();
  ASSERT_TRUE(held) << "the reader did not reach a batch end";

  auto result = recording->finish();
  ASSERT_TRUE(result.ok()) << result.error().message();
  const RecordingStats stats = recording->stats();
  EXPECT_EQ(stats.packets_captured + stats.packets_lost(), 50u);
  EXPECT_EQ(test::read_pcap(result->path.string()).records.size(), stats.packets_captured);
  EXPECT_EQ(dispatcher.counters().packets_unmatched, 0u);
  EXPECT_TRUE(source.stop().ok());
}

TEST_P(VethCapture, GlobFollowsInterfacesThatComeAndGo) {
  RECORDER_REQUIRE_ROOT();
  // The glob is specific to this process so concurrently running tests of other areas, whose
  // interfaces also start with "prt", are never touched.
  const std::string prefix = "prt" + std::to_string(getpid() % 100000) + "c";
  auto first = std::make_unique<VethNamespace>(prefix + "a");
  ASSERT_TRUE(first->ok());

  datapath::Options options;
  options.interfaces = {prefix + "*"};
  options.transport = GetParam();
  options.buffer_bytes_per_cpu = 1u << 20;
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  ASSERT_EQ((*dp)->attached_interfaces().size(), 1u);
  ASSERT_TRUE((*dp)
                  ->install_rules(std::vector<RuleEntry>{[] {
                                    RuleEntry e;
                                    e.slot = 0;
                                    e.recording_id = 1;
                                    e.filter.protocol = Protocol::kUdp;
                                    return e;
                                  }()},
                                  1)
                  .ok());

  CountingConsumer consumer;
  SourceThread source(**dp, consumer);
  // A matching interface appears mid-recording: attached, its traffic captured.
  auto second = std::make_unique<VethNamespace>(prefix + "b");
  ASSERT_TRUE(second->ok());
  ASSERT_TRUE(wait_for([&] { return (*dp)->attached_interfaces().size() == 2; }))
      << (*dp)->describe();
  const int second_index = static_cast<int>(if_nametoindex((prefix + "b").c_str()));
  second->send_udp(false, 7000, 20, 64);
  first->send_udp(false, 7000, 10, 64);
  const int first_index = static_cast<int>(if_nametoindex((prefix + "a").c_str()));
  EXPECT_TRUE(wait_for([&] { return consumer.count(second_index) >= 20; }));
  EXPECT_TRUE(wait_for([&] { return consumer.count(first_index) >= 10; }));
  // ... and goes away: forgotten, the other one still captured.
  second->delete_link();
  ASSERT_TRUE(wait_for([&] { return (*dp)->attached_interfaces().size() == 1; }));
  EXPECT_EQ((*dp)->attached_interfaces()[0].name, prefix + "a");
  first->send_udp(false, 7000, 10, 64);
  EXPECT_TRUE(wait_for([&] { return consumer.count(first_index) >= 20; }));
  EXPECT_TRUE(source.stop().ok());
  dp->reset();
  EXPECT_TRUE(tc_clean(prefix + "a"));
}

// clsact (the fallback for kernels without tcx): the recorder adds its filters next to someone
// else's, removes exactly its own, and keeps a qdisc it did not create, or that it created but
// someone else has put a filter on since.
TEST_P(VethCapture, ClsactCleanupRemovesOnlyWhatItCreated) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  // Someone else's clsact qdisc and filter are already there.
  ASSERT_EQ(sh("tc qdisc add dev " + net.host() + " clsact"), 0);
  ASSERT_EQ(add_foreign_filter(net.host(), "ingress", 7), 0);
  const std::string before = sh_output("tc filter show dev " + net.host() + " ingress");
  datapath::Options options;
  options.interfaces = {net.host()};
  options.transport = GetParam();
  options.attach_mode = datapath::AttachMode::kClsact;
  {
    auto dp = Datapath::open(options);
    ASSERT_TRUE(dp.ok()) << dp.error().message();
    const auto h = hook_programs(net.host());
    EXPECT_EQ(h.clsact_ingress, 1);
    EXPECT_EQ(h.clsact_egress, 1);
    EXPECT_GT(h.foreign_filters, 0);  // a u32 filter lists as its hash table and its key
  }
  EXPECT_EQ(sh_output("tc filter show dev " + net.host() + " ingress"), before);
  EXPECT_EQ(sh_output("tc filter show dev " + net.host() + " egress"), "");
  EXPECT_NE(sh_output("tc qdisc show dev " + net.host() + " | grep clsact"), "");
  // Without a qdisc beforehand the recorder removes the one it created...
  ASSERT_EQ(sh("tc qdisc del dev " + net.host() + " clsact"), 0);
  {
    auto dp = Datapath::open(options);
    ASSERT_TRUE(dp.ok()) << dp.error().message();
    EXPECT_FALSE(tc_clean(net.host()));
  }
  EXPECT_TRUE(tc_clean(net.host()));
  // ...unless someone else put a filter on it meanwhile.
  {
    auto dp = Datapath::open(options);
    ASSERT_TRUE(dp.ok()) << dp.error().message();
    ASSERT_EQ(add_foreign_filter(net.host(), "egress", 9), 0);
  }
  EXPECT_EQ(hook_programs(net.host()).recorder_total(), 0);
  EXPECT_GT(hook_programs(net.host()).foreign_filters, 0);
  EXPECT_NE(sh_output("tc qdisc show dev " + net.host() + " | grep clsact"), "");
}

// tcx (the default where the kernel has it): no qdisc is created, a neighbour's clsact qdisc and
// filters are never touched, and the links leave with their owner.
TEST_P(VethCapture, TcxLeavesNeighboursAlone) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  datapath::Options options;
  options.interfaces = {net.host()};
  options.transport = GetParam();
  options.attach_mode = datapath::AttachMode::kTcx;
  {
    auto dp = Datapath::open(options);
    ASSERT_TRUE(dp.ok()) << dp.error().message();
    const auto h = hook_programs(net.host());
    EXPECT_EQ(h.tcx_ingress, 1);
    EXPECT_EQ(h.tcx_egress, 1);
    EXPECT_EQ(h.clsact_ingress + h.clsact_egress, 0);
    EXPECT_EQ(sh_output("tc qdisc show dev " + net.host() + " | grep clsact"), "");
    // A neighbour arrives while we are attached.
    ASSERT_EQ(sh("tc qdisc add dev " + net.host() + " clsact"), 0);
    ASSERT_EQ(add_foreign_filter(net.host(), "ingress", 7), 0);
  }
  const auto after = hook_programs(net.host());
  EXPECT_EQ(after.recorder_total(), 0);
  EXPECT_GT(after.foreign_filters, 0);
  EXPECT_NE(sh_output("tc qdisc show dev " + net.host() + " | grep clsact"), "");
}

TEST_P(VethCapture, VlanTagsAreInTheCaptureAsOnTheWire) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  // Tagged frames (802.1Q, and QinQ) injected on the peer end arrive on the host end, where
  // the kernel moves the outer tag out of the bytes (rx untagging) before tc runs.
  const std::string a = net.host4(), b = net.peer4();
  const std::string host_mac = sh_output("cat /sys/class/net/" + net.host() + "/address");
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 10; ++i) {
    test::PacketSpec spec;
    spec.vlans = {{static_cast<uint16_t>(i < 5 ? 0x8100 : 0x88a8), 100}};
    if (i >= 5) spec.vlans.push_back({0x8100, 7});
    spec.source = b;
    spec.destination = a;
    spec.protocol = IPPROTO_UDP;
    spec.destination_port = 5555;
    spec.payload_length = 20 + i;
    auto frame = test::build_packet(spec);
    unsigned mac[6];
    ASSERT_EQ(std::sscanf(host_mac.c_str(), "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3],
                          &mac[4], &mac[5]),
              6);
    for (int k = 0; k < 6; ++k) frame[k] = static_cast<uint8_t>(mac[k]);
    frames.push_back(frame);
  }
  test::TempDir dir("prt_dp");
  testing::Tcpdump tcpdump(net.host(), dir.path().string() + "/tcpdump.pcap", "vlan 100",
                           dir.path().string() + "/tcpdump.log");
  ASSERT_TRUE(tcpdump.ready());

  datapath::Options options;
  options.interfaces = {net.host()};
  options.transport = GetParam();
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  auto pool = sink::WriterPool::create({});
  ASSERT_TRUE(pool.ok());
  RecordingSpec spec;
  spec.include = {must_parse(b + " 0 " + a + " 5555 UDP")};
  auto recording = testing::file_recording(**pool, 2, spec, dir.path() / "recording.pcap");
  ASSERT_NE(recording, nullptr);
  Dispatcher dispatcher;
  Router router(dispatcher, dp->get());
  ASSERT_TRUE(router.add(recording).ok());
  {
    SourceThread source(**dp, dispatcher);
    EXPECT_TRUE(net.inject(frames));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(source.stop().ok());
  }
  tcpdump.stop();
  router.remove(2);
  auto result = recording->finish();
  ASSERT_TRUE(result.ok()) << result.error().message();
  auto ours = test::read_pcap(result->path.string());
  auto theirs = test::read_pcap(dir.path().string() + "/tcpdump.pcap");
  ASSERT_EQ(theirs.records.size(), 10u);
  ASSERT_EQ(ours.records.size(), theirs.records.size());
  test::FrameMultiset a_set, b_set;
  for (const auto& r : ours.records) {
    a_set.insert(r.data);
    EXPECT_EQ(r.original_length, r.data.size());
  }
  for (const auto& r : theirs.records) b_set.insert(r.data);
  EXPECT_EQ(a_set, b_set);
  // ... and both are exactly the frames that were sent, tags included.
  EXPECT_EQ(a_set, test::FrameMultiset(frames.begin(), frames.end()));
}

// A packet after a quiet spell, with nothing behind it to push it along, still reaches the
// consumer: the reader does not wait for more traffic (or a batch to fill) before delivering it.
// The bound only tells "delivered" from "never"; how fast it arrives is a benchmark
// (datapath_bench latency).
TEST_P(VethCapture, QuietPacketArrivesWithoutFurtherTraffic) {
  RECORDER_REQUIRE_ROOT();
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  datapath::Options options;
  options.interfaces = {net.host()};
  options.transport = GetParam();
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  RuleEntry e;
  e.recording_id = 1;
  e.filter = must_parse("any 0 " + net.peer4() + " 7001 UDP");
  ASSERT_TRUE((*dp)->install_rules(std::vector<RuleEntry>{e}, 1).ok());
  CountingConsumer consumer;
  SourceThread source(**dp, consumer);
  const int ifindex = static_cast<int>(if_nametoindex(net.host().c_str()));
  for (int i = 0; i < 3; ++i) {
    // One packet far below any wakeup threshold, then silence until it has arrived.
    net.send_udp(false, 7001, 1, 32);
    ASSERT_TRUE(
        wait_for([&] { return consumer.count(ifindex) >= static_cast<uint64_t>(i + 1); }, 30000))
        << "packet " << i << " was not delivered";
    EXPECT_EQ(consumer.count(ifindex), static_cast<uint64_t>(i + 1));
  }
}

// Keeps the timestamps of the packets it gets, in arrival order (reader thread only).
class TimestampConsumer final : public PacketConsumer {
 public:
  explicit TimestampConsumer(size_t capacity) : ts_(capacity) {}
  void on_packet(const CapturedPacket& p) noexcept override {
    const size_t i = count_.load(std::memory_order_relaxed);
    if (i < ts_.size()) ts_[i] = p.timestamp_ns;
    count_.store(i + 1, std::memory_order_release);
  }
  void on_batch_end() noexcept override {}
  size_t count() const { return count_.load(std::memory_order_acquire); }
  const std::vector<uint64_t>& timestamps() const { return ts_; }

 private:
  std::vector<uint64_t> ts_;
  std::atomic<size_t> count_{0};
};

// Both CPUs send at once, so each CPU's buffer holds an interleaved share of the packets. Read
// one buffer after the other they would come out in per-CPU batches, going back in time at every
// batch boundary; merged by capture time they come out in order.
TEST_P(VethCapture, PacketsFromSeveralCpusArriveInCaptureTimeOrder) {
  RECORDER_REQUIRE_ROOT();
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs two CPUs";
  VethNamespace net(unique_name("h"));
  ASSERT_TRUE(net.ok());
  datapath::Options options;
  options.interfaces = {net.host()};
  options.transport = GetParam();
  options.buffer_bytes_per_cpu = 8u << 20;
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  RuleEntry e;
  e.recording_id = 1;
  e.filter = must_parse("any 0 " + net.peer4() + " 7002 UDP");
  ASSERT_TRUE((*dp)->install_rules(std::vector<RuleEntry>{e}, 1).ok());
  constexpr int kPerCpu = 20000;
  TimestampConsumer consumer(2 * kPerCpu);
  SourceThread source(**dp, consumer);
  std::vector<std::thread> senders;
  for (int cpu = 0; cpu < 2; ++cpu) {
    senders.emplace_back([&, cpu] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
      net.send_udp(false, 7002, kPerCpu, 64);
    });
  }
  for (auto& t : senders) t.join();
  EXPECT_TRUE(wait_for([&] { return consumer.count() >= 2 * kPerCpu; }, 5000));
  ASSERT_TRUE(source.stop().ok());
  ASSERT_EQ(consumer.count(), static_cast<size_t>(2 * kPerCpu));
  EXPECT_TRUE((*dp)->take_kernel_losses().empty());
  // Wall-clock timestamps: allow the re-sync jitter of the clock offset (well under 1 us), not
  // the milliseconds of a per-CPU batch.
  const auto& ts = consumer.timestamps();
  size_t backwards = 0;
  uint64_t worst = 0;
  for (size_t i = 1; i < ts.size(); ++i) {
    if (ts[i] + 1000 < ts[i - 1]) {
      ++backwards;
      worst = std::max(worst, ts[i - 1] - ts[i]);
    }
  }
  EXPECT_EQ(backwards, 0u) << "packets earlier than the one before them; worst by " << worst
                           << " ns";
}

INSTANTIATE_TEST_SUITE_P(Transports, VethCapture,
                         ::testing::Values(Transport::kPerfBuffer, Transport::kRingBuffer),
                         testing::TransportName());

TEST(DatapathOpen, UnknownExactInterfaceIsInvalidArgument) {
  RECORDER_REQUIRE_ROOT();
  datapath::Options options;
  options.interfaces = {"prtnosuchif0"};
  auto dp = Datapath::open(options);
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(dp.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(dp.error().message().find("prtnosuchif0"), std::string::npos);
}

TEST(DatapathOpen, AutoTransportPicksRingBuffers) {
  RECORDER_REQUIRE_ROOT();
  datapath::Options options;
  options.interfaces = {"prtnone*"};  // a glob that matches nothing is fine
  auto dp = Datapath::open(options);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  EXPECT_EQ((*dp)->transport_name(), "ring buffer");
  EXPECT_TRUE((*dp)->attached_interfaces().empty());
}

}  // namespace
}  // namespace recorder
