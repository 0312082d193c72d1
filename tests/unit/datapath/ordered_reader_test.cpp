// OrderedReader against in-memory per-CPU buffers: samples come out in capture-time order across
// buffers, never past the horizon (those wait for a later round), loss reports are passed on,
// and consumed space is committed once per round.
#include "datapath/ordered_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <random>

namespace recorder::datapath {
namespace {

// A buffer whose records are 8-byte timestamps (the first field of a capture header) or losses.
class FakeBuffer final : public CpuBufferRuns<FakeBuffer> {
 public:
  void add_sample(uint64_t ktime) { pending_.push_back({ktime, 0}); }
  void add_loss(uint64_t n) { pending_.push_back({0, n}); }

  void refresh() override {
    while (!pending_.empty()) {
      visible_.push_back(pending_.front());
      pending_.pop_front();
    }
  }
  bool peek(Record& r) override {
    if (visible_.empty()) return false;
    const auto& [ktime, lost] = visible_.front();
    std::memcpy(bytes_, &ktime, sizeof ktime);
    r = lost != 0 ? Record{nullptr, 0, lost} : Record{bytes_, sizeof bytes_, 0};
    return true;
  }
  void pop() override {
    visible_.pop_front();
    ++popped_;
  }
  void commit() override {
    committed_ = popped_;
    ++commits_;
  }
  bool empty() override { return visible_.empty() && pending_.empty(); }

  size_t committed() const { return committed_; }
  size_t commits() const { return commits_; }
  size_t waiting() const { return visible_.size() + pending_.size(); }

 private:
  std::deque<std::pair<uint64_t, uint64_t>> pending_, visible_;  // (ktime, lost)
  uint8_t bytes_[64] = {};
  size_t popped_ = 0, committed_ = 0, commits_ = 0;
};

struct Collect final : OrderedReader::Visitor {
  void sample(const uint8_t* data, size_t size) noexcept override {
    uint64_t t = 0;
    if (size >= sizeof t) std::memcpy(&t, data, sizeof t);
    times.push_back(t);
  }
  void lost(uint64_t n) noexcept override { losses += n; }
  std::vector<uint64_t> times;
  uint64_t losses = 0;
};

struct Fixture {
  explicit Fixture(size_t n) {
    std::vector<std::unique_ptr<CpuBuffer>> v;
    for (size_t i = 0; i < n; ++i) {
      auto b = std::make_unique<FakeBuffer>();
      buffers.push_back(b.get());
      v.push_back(std::move(b));
    }
    reader = std::make_unique<OrderedReader>(std::move(v));
  }
  std::vector<FakeBuffer*> buffers;
  std::unique_ptr<OrderedReader> reader;
};

TEST(OrderedReader, MergesBuffersByCaptureTime) {
  Fixture f(3);
  for (uint64_t t : {1, 4, 7, 10}) f.buffers[0]->add_sample(t);
  for (uint64_t t : {2, 3, 8}) f.buffers[1]->add_sample(t);
  for (uint64_t t : {5, 6, 9}) f.buffers[2]->add_sample(t);
  Collect c;
  EXPECT_EQ(f.reader->read(OrderedReader::kNoHorizon, c), 10u);
  EXPECT_EQ(c.times, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  for (auto* b : f.buffers) {
    EXPECT_EQ(b->waiting(), 0u);
    EXPECT_EQ(b->commits(), 1u);
  }
}

TEST(OrderedReader, SamplesPastTheHorizonWaitForALaterRound) {
  Fixture f(2);
  for (uint64_t t : {10, 20, 30}) f.buffers[0]->add_sample(t);
  for (uint64_t t : {15, 25, 35}) f.buffers[1]->add_sample(t);
  Collect c;
  EXPECT_EQ(f.reader->read(25, c), 4u);
  EXPECT_EQ(c.times, (std::vector<uint64_t>{10, 15, 20, 25}));
  EXPECT_EQ(f.buffers[0]->committed(), 2u);  // 30 stays in the buffer
  EXPECT_EQ(f.buffers[1]->committed(), 2u);  // 35 stays
  // A sample committed late on CPU 0 with an earlier time than what waits on CPU 1.
  f.buffers[0]->add_sample(32);
  EXPECT_EQ(f.reader->read(OrderedReader::kNoHorizon, c), 3u);
  EXPECT_EQ(c.times, (std::vector<uint64_t>{10, 15, 20, 25, 30, 32, 35}));
}

// drained() says whether the reader may sleep until a sample wakes it: not while samples past
// the horizon wait, nor when one arrived after the round.
TEST(OrderedReader, DrainedOnlyWhenEveryBufferIsEmpty) {
  Fixture f(2);
  Collect c;
  EXPECT_EQ(f.reader->read(OrderedReader::kNoHorizon, c), 0u);
  EXPECT_TRUE(f.reader->drained());
  f.buffers[0]->add_sample(10);
  f.buffers[1]->add_sample(30);
  EXPECT_EQ(f.reader->read(20, c), 1u);
  EXPECT_FALSE(f.reader->drained());  // 30 waits for a later round
  EXPECT_EQ(f.reader->read(30, c), 1u);
  EXPECT_TRUE(f.reader->drained());
  f.buffers[1]->add_sample(40);  // committed after the round
  EXPECT_FALSE(f.reader->drained());
}

TEST(OrderedReader, LossReportsArePassedOnAndEmptyBuffersAreFine) {
  Fixture f(3);
  f.buffers[0]->add_loss(7);
  f.buffers[0]->add_sample(2);
  f.buffers[0]->add_loss(5);
  f.buffers[2]->add_sample(1);
  Collect c;
  EXPECT_EQ(f.reader->read(OrderedReader::kNoHorizon, c), 2u);
  EXPECT_EQ(c.times, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(c.losses, 12u);
  Collect none;
  EXPECT_EQ(f.reader->read(OrderedReader::kNoHorizon, none), 0u);
}

TEST(OrderedReader, RandomPerCpuStreamsComeOutSortedAndComplete) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 50; ++round) {
    const size_t cpus = 1 + rng() % 8;
    Fixture f(cpus);
    std::vector<uint64_t> all;
    for (size_t i = 0; i < cpus; ++i) {
      uint64_t t = rng() % 100;
      const size_t n = rng() % 200;
      for (size_t k = 0; k < n; ++k) {
        t += rng() % 50;  // each CPU's own stream is in time order, with ties
        f.buffers[i]->add_sample(t);
        all.push_back(t);
      }
    }
    std::sort(all.begin(), all.end());
    Collect c;
    // Several rounds with a rising horizon, then the final drain.
    size_t delivered = 0;
    for (uint64_t h = 0; h < 3000; h += 1 + rng() % 700) delivered += f.reader->read(h, c);
    delivered += f.reader->read(OrderedReader::kNoHorizon, c);
    EXPECT_EQ(delivered, all.size());
    EXPECT_EQ(c.times, all) << "round " << round;
  }
}

}  // namespace
}  // namespace recorder::datapath
