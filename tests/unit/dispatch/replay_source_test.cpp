#include "dispatch/replay_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/wall_clock.h"
#include "dispatch/memory_source.h"
#include "packet_builder.h"
#include "pcap_file.h"
#include "sink/sink.h"
#include "temp_dir.h"

namespace recorder {
namespace {

using ::testing::HasSubstr;

// Collects what a source delivers.
class CollectingConsumer : public PacketConsumer {
 public:
  struct Seen {
    CapturedPacket meta;
    std::vector<uint8_t> data;
  };
  void on_packet(const CapturedPacket& packet) noexcept override {
    seen.push_back({packet, {packet.data.begin(), packet.data.end()}});
    seen.back().meta.data = {};
    ++in_batch;
    max_batch = std::max(max_batch, in_batch);
  }
  void on_batch_end() noexcept override {
    ++batch_ends;
    in_batch = 0;
  }
  std::vector<Seen> seen;
  size_t batch_ends = 0;
  size_t in_batch = 0;
  size_t max_batch = 0;
};

using test::TempDir;

std::vector<test::PcapRecord> mixed_records(size_t count) {
  const std::vector<test::PacketSpec> specs = {
      {.protocol = IPPROTO_TCP, .destination_port = 443, .payload_length = 100},
      {.vlans = {{0x8100, 7}}, .protocol = IPPROTO_UDP, .payload_length = 30},
      {.source = "fd00::1", .destination = "fd00::2", .protocol = IPPROTO_ICMPV6},
      {.protocol = IPPROTO_ICMP, .payload_length = 56},
  };
  std::vector<test::PcapRecord> records;
  for (size_t i = 0; i < count; ++i) {
    test::PcapRecord r;
    r.data = test::build_packet(specs[i % specs.size()]);
    r.timestamp_ns = 1'700'000'000'000'000'000ull + i * 1'000'123ull;  // odd ns survive
    if (i % 5 == 0) {
      r.original_length = static_cast<uint32_t>(r.data.size() + 1000);  // a snapped packet
    }
    records.push_back(std::move(r));
  }
  return records;
}

TEST(ReplaySource, DeliversEveryPacketWithItsMetadata) {
  TempDir dir;
  const auto path = dir.path() / "in.pcap";
  const auto records = mixed_records(300);
  test::write_pcap(path, records);

  auto source = ReplaySource::open(
      {.path = path, .ifindex = 42, .direction = Direction::kIngress, .batch_packets = 64});
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ((*source)->link_type(), LinkType::kEthernet);
  EXPECT_THAT((*source)->describe(), HasSubstr("replay of "));
  CollectingConsumer consumer;
  std::atomic<bool> stop{false};
  ASSERT_TRUE((*source)->run(consumer, stop).ok());
  ASSERT_EQ(consumer.seen.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& got = consumer.seen[i];
    EXPECT_EQ(got.data, records[i].data) << i;
    EXPECT_EQ(got.meta.timestamp_ns, records[i].timestamp_ns) << i;
    const uint32_t original =
        records[i].original_length ? records[i].original_length : records[i].data.size();
    EXPECT_EQ(got.meta.original_length, original) << i;
    EXPECT_EQ(got.meta.ifindex, 42u);
    EXPECT_EQ(got.meta.direction, Direction::kIngress);
    EXPECT_EQ(got.meta.link_type, LinkType::kEthernet);
    EXPECT_EQ(got.meta.kernel_rules, nullptr);
  }
  EXPECT_EQ(consumer.max_batch, 64u);
  EXPECT_EQ(consumer.batch_ends, 5u);  // 4 full batches and the rest
  EXPECT_EQ(consumer.in_batch, 0u);    // the last batch was ended
  EXPECT_EQ((*source)->packets_replayed(), 300u);
}

// pcapng input, written by the real pcapng sink (libpcap cannot write pcapng).
TEST(ReplaySource, ReadsPcapngFiles) {
  TempDir dir;
  const auto path = dir.path() / "in.pcapng";
  const auto records = mixed_records(50);
  {
    auto pool = sink::WriterPool::create({});
    ASSERT_TRUE(pool.ok()) << pool.error().message();
    auto s = sink::Sink::open(**pool, {.path = path, .format = sink::FileFormat::kPcapng});
    ASSERT_TRUE(s.ok()) << s.error().message();
    for (const auto& r : records) {
      CapturedPacket p;
      p.timestamp_ns = r.timestamp_ns;
      p.original_length = r.original_length ? r.original_length : r.data.size();
      p.data = r.data;
      ASSERT_EQ((*s)->try_append(p), sink::AppendResult::kAppended);
    }
    ASSERT_TRUE((*s)->close(0).ok());
  }
  auto source = ReplaySource::open({.path = path});
  ASSERT_TRUE(source.ok()) << source.error().message();
  CollectingConsumer consumer;
  std::atomic<bool> stop{false};
  ASSERT_TRUE((*source)->run(consumer, stop).ok());
  ASSERT_EQ(consumer.seen.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(consumer.seen[i].data, records[i].data) << i;
    EXPECT_EQ(consumer.seen[i].meta.timestamp_ns, records[i].timestamp_ns) << i;
  }
}

TEST(ReplaySource, RawIpFiles) {
  TempDir dir;
  for (int dlt : {DLT_RAW, 228 /* DLT_IPV4 */}) {
    const auto path = dir.path() / ("raw" + std::to_string(dlt) + ".pcap");
    test::write_pcap(path,
                     {{.timestamp_ns = 5,
                       .data = test::build_packet({.raw_ip = true, .protocol = IPPROTO_UDP})}},
                     dlt);
    auto source = ReplaySource::open({.path = path});
    ASSERT_TRUE(source.ok()) << source.error().message();
    EXPECT_EQ((*source)->link_type(), LinkType::kRaw);
    CollectingConsumer consumer;
    std::atomic<bool> stop{false};
    ASSERT_TRUE((*source)->run(consumer, stop).ok());
    ASSERT_EQ(consumer.seen.size(), 1u);
    EXPECT_EQ(consumer.seen[0].meta.link_type, LinkType::kRaw);
  }
}

TEST(ReplaySource, ClearErrors) {
  TempDir dir;
  auto missing = ReplaySource::open({.path = dir.path() / "nope.pcap"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr("nope.pcap"));

  const auto sll = dir.path() / "sll.pcap";
  test::write_pcap(sll, {{.timestamp_ns = 1, .data = std::vector<uint8_t>(40, 0)}}, DLT_LINUX_SLL);
  auto unsupported = ReplaySource::open({.path = sll});
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(unsupported.error().message(),
              HasSubstr("link type LINUX_SLL (113) is not supported: expected Ethernet or raw IP"));

  const auto garbage = dir.path() / "garbage.pcap";
  {
    std::ofstream out(garbage);
    out << "this is not a capture file at all, not even close";
  }
  auto bad = ReplaySource::open({.path = garbage});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ReplaySource, LoopsUntilStoppedAndRetimes) {
  TempDir dir;
  const auto path = dir.path() / "in.pcap";
  test::write_pcap(path, mixed_records(10));
  auto source = ReplaySource::open({.path = path, .loop = true, .retime = true});
  ASSERT_TRUE(source.ok());
  std::atomic<bool> stop{false};
  class StopAfter : public CollectingConsumer {
   public:
    std::atomic<bool>* stop = nullptr;
    void on_packet(const CapturedPacket& p) noexcept override {
      CollectingConsumer::on_packet(p);
      if (seen.size() == 35) stop->store(true);
    }
  } consumer;
  consumer.stop = &stop;
  const uint64_t before = wall_clock_ns();
  ASSERT_TRUE((*source)->run(consumer, stop).ok());
  ASSERT_GE(consumer.seen.size(), 35u);
  EXPECT_LE(consumer.seen.size(), 35u + 64u);  // stops within a batch
  for (const auto& s : consumer.seen) EXPECT_GE(s.meta.timestamp_ns, before);
  EXPECT_EQ(consumer.seen[10].data, consumer.seen[0].data);  // the second round
}

TEST(ReplaySource, PacesAndEndsBatchesWhileWaiting) {
  TempDir dir;
  const auto path = dir.path() / "in.pcap";
  test::write_pcap(path, mixed_records(20));
  auto source = ReplaySource::open({.path = path, .packets_per_second = 400});
  ASSERT_TRUE(source.ok());
  CollectingConsumer consumer;
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE((*source)->run(consumer, stop).ok());
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(consumer.seen.size(), 20u);
  // 20 packets at 400/s take at least 19/400 s; a lower bound only (the machine may be slow).
  EXPECT_GE(took, std::chrono::milliseconds(45));
  EXPECT_GE(consumer.batch_ends, 10u);  // batches end while waiting for the next packet
}

TEST(ReplaySource, StopsAPacedReplayPromptly) {
  TempDir dir;
  const auto path = dir.path() / "in.pcap";
  test::write_pcap(path, mixed_records(10));
  auto source = ReplaySource::open({.path = path, .loop = true, .packets_per_second = 0.5});
  ASSERT_TRUE(source.ok());
  CollectingConsumer consumer;
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    stop = true;
  });
  ASSERT_TRUE((*source)->run(consumer, stop).ok());
  stopper.join();
  EXPECT_EQ(consumer.seen.size(), 1u);  // the first is due at once, the second in 2 s
}

TEST(MemorySource, FeedsRoundsInBatchesWithMonotonicTimestamps) {
  std::vector<MemoryPacket> packets(3);
  for (size_t i = 0; i < packets.size(); ++i) {
    packets[i].bytes = test::build_packet({.protocol = IPPROTO_UDP});
    packets[i].timestamp_ns = 100 + i * 10;
  }
  MemorySource source(packets, {.rounds = 4, .batch_packets = 5});
  CollectingConsumer consumer;
  std::atomic<bool> stop{false};
  ASSERT_TRUE(source.run(consumer, stop).ok());
  ASSERT_EQ(consumer.seen.size(), 12u);
  EXPECT_EQ(consumer.batch_ends, 3u);
  for (size_t i = 1; i < consumer.seen.size(); ++i) {
    EXPECT_GT(consumer.seen[i].meta.timestamp_ns, consumer.seen[i - 1].meta.timestamp_ns);
  }
  EXPECT_EQ(source.packets_fed(), 12u);
}

}  // namespace
}  // namespace recorder
