// InterfaceCounters: per interface and direction counts from one writer, read back while it
// writes, and the overflow once the table is full.
#include "datapath/interface_counters.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

namespace recorder::datapath {
namespace {

std::map<std::pair<uint32_t, uint8_t>, InterfaceCounters::Count> by_key(
    const InterfaceCounters& c) {
  std::map<std::pair<uint32_t, uint8_t>, InterfaceCounters::Count> out;
  for (const auto& e : c.counts()) out[{e.ifindex, e.direction}] = e;
  return out;
}

TEST(InterfaceCounters, CountsPacketsAndBytesPerInterfaceAndDirection) {
  InterfaceCounters c;
  for (int i = 0; i < 10; ++i) c.add(7, 1, 100);
  for (int i = 0; i < 3; ++i) c.add(7, 2, 60);
  c.add(1u << 30, 1, 1500);  // large ifindexes are keys like any other
  const auto counts = by_key(c);
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts.at({7, 1}).packets, 10u);
  EXPECT_EQ(counts.at({7, 1}).bytes, 1000u);
  EXPECT_EQ(counts.at({7, 2}).packets, 3u);
  EXPECT_EQ(counts.at({7, 2}).bytes, 180u);
  EXPECT_EQ(counts.at({1u << 30, 1}).bytes, 1500u);
  EXPECT_EQ(c.overflow().packets, 0u);
}

TEST(InterfaceCounters, PairsBeyondTheTableAreCountedAsOverflowNotLost) {
  InterfaceCounters c;
  const uint32_t pairs = InterfaceCounters::kSlots + 40;
  for (uint32_t i = 1; i <= pairs; ++i) c.add(i, 1, 10);
  uint64_t packets = 0;
  for (const auto& e : c.counts()) packets += e.packets;
  EXPECT_EQ(c.counts().size(), InterfaceCounters::kSlots);
  EXPECT_EQ(c.overflow().packets, 40u);
  EXPECT_EQ(packets + c.overflow().packets, pairs);
}

TEST(InterfaceCounters, AReaderWhileTheWriterCountsSeesCountsThatOnlyGrow) {
  InterfaceCounters c;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 200000; ++i) c.add(static_cast<uint32_t>(i % 8 + 1), 1, 64);
    done = true;
  });
  std::map<uint32_t, uint64_t> last;
  while (!done.load()) {
    for (const auto& e : c.counts()) {
      EXPECT_GE(e.packets, last[e.ifindex]);
      last[e.ifindex] = e.packets;
    }
  }
  writer.join();
  for (const auto& e : c.counts()) EXPECT_EQ(e.packets, 25000u) << e.ifindex;
}

}  // namespace
}  // namespace recorder::datapath
