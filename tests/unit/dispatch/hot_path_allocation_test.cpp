// The hot path must not allocate: this binary replaces the global operator new with one that
// counts allocations made by the current thread while counting is switched on, then runs
// decode -> classify -> dispatch -> Recording::offer for many packets and expects zero.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "dispatch/dispatcher.h"
#include "dispatch/packet_info.h"
#include "packet_builder.h"

namespace {

thread_local bool t_counting = false;
thread_local uint64_t t_allocations = 0;

}  // namespace

void* operator new(std::size_t size) {
  if (t_counting) ++t_allocations;
  if (void* p = std::malloc(size != 0 ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace recorder {
namespace {

// A sink that only counts, so the allocations measured are dispatch's own.
class CountingSink : public sink::Sink {
 public:
  sink::AppendResult try_append(const CapturedPacket& packet) noexcept override {
    ++appended;
    bytes += packet.data.size();
    return (appended % 7 == 0) ? sink::AppendResult::kQueueFull : sink::AppendResult::kAppended;
  }
  sink::RecordPlacement last_placement() const noexcept override { return {}; }
  bool failed() const noexcept override { return false; }
  int failure_errno() const noexcept override { return 0; }
  sink::SinkProgress progress() const noexcept override { return {}; }
  Result<sink::SinkResult> close(uint64_t) override { return sink::SinkResult{}; }
  uint64_t appended = 0;
  uint64_t bytes = 0;
};

class AllocationCounter {
 public:
  AllocationCounter() {
    t_allocations = 0;
    t_counting = true;
  }
  ~AllocationCounter() { t_counting = false; }
  uint64_t count() const { return t_allocations; }
};

TEST(HotPath, CountingWorks) {
  AllocationCounter counter;
  auto* p = new int(3);
  delete p;
  EXPECT_EQ(counter.count(), 1u);
}

TEST(HotPath, DecodeClassifyDispatchOfferNeverAllocate) {
  Dispatcher dispatcher;
  Router router(dispatcher);
  std::vector<CountingSink*> sinks;
  const std::vector<std::vector<std::string>> recordings = {
      {"10.0.0.0/8 0 any 0 TCP", "any 0 any 53 UDP"},
      {"any 0 any 0 ANY"},
      {"fd00::/16 0 fd00::2 443 ANY", "any 0 any 0 ICMPv6"},
  };
  uint64_t id = 1;
  for (const auto& filters : recordings) {
    RecordingSpec spec;
    for (const auto& text : filters) spec.include.push_back(*parse_filter(text));
    spec.snap_length = 96;
    auto s = std::make_unique<CountingSink>();
    sinks.push_back(s.get());
    ASSERT_TRUE(router.add(std::make_shared<Recording>(id++, std::move(spec), std::move(s))).ok());
  }
  const std::vector<std::vector<uint8_t>> frames = {
      test::build_packet({.protocol = IPPROTO_TCP, .payload_length = 200}),
      test::build_packet({.vlans = {{0x8100, 3}}, .protocol = IPPROTO_UDP, .destination_port = 53}),
      test::build_packet({.source = "fd00::1",
                          .destination = "fd00::2",
                          .protocol = IPPROTO_TCP,
                          .destination_port = 443,
                          .ipv6_extensions = {IPPROTO_HOPOPTS}}),
      test::build_packet(
          {.source = "fd00::1", .destination = "fd00::3", .protocol = IPPROTO_ICMPV6}),
      test::build_packet({.ether_type = 0x0806, .payload_length = 28}),
  };
  RuleMask kernel_mask{};
  kernel_mask.words[0] = ~uint64_t{0};
  const uint32_t generation = router.current()->generation;
  {
    AllocationCounter counter;
    for (int i = 0; i < 20000; ++i) {
      const auto& frame = frames[static_cast<size_t>(i) % frames.size()];
      CapturedPacket p;
      p.timestamp_ns = static_cast<uint64_t>(i);
      p.original_length = static_cast<uint32_t>(frame.size());
      p.data = frame;
      if (i % 3 == 0) {  // the eBPF source's path
        p.kernel_rules = &kernel_mask;
        p.rule_generation = generation;
      }
      dispatcher.on_packet(p);
      if (i % 64 == 63) dispatcher.on_batch_end();
    }
    dispatcher.on_batch_end();
    EXPECT_EQ(counter.count(), 0u) << "allocations on the hot path";
  }
  EXPECT_EQ(dispatcher.counters().packets, 20000u);
  for (const auto* s : sinks) EXPECT_GT(s->appended, 1000u);
}

}  // namespace
}  // namespace recorder
