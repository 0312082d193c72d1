#include "dispatch/recording.h"

#include <gtest/gtest.h>

#include "fake_sink.h"
#include "packet_builder.h"

namespace recorder {
namespace {

using test::FakeSink;
using test::FakeSinkState;

struct Fixture {
  std::shared_ptr<FakeSinkState> state = std::make_shared<FakeSinkState>();
  std::vector<uint8_t> bytes;
  CapturedPacket packet;

  explicit Fixture(size_t payload = 46) {
    bytes = test::build_packet({.protocol = IPPROTO_UDP, .payload_length = payload});
    packet.timestamp_ns = 1'700'000'000'123'456'789ull;
    packet.original_length = static_cast<uint32_t>(bytes.size());
    packet.data = bytes;
  }

  std::unique_ptr<Recording> make(RecordingSpec spec) {
    if (spec.include.empty()) spec.include.push_back(Filter{});
    return std::make_unique<Recording>(7, std::move(spec), std::make_unique<FakeSink>(state));
  }
};

TEST(Recording, PacketLimitAppendsExactlyN) {
  Fixture f;
  auto r = f.make({.stop = {.packets = 5}});
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r->pending_stop(), StopReason::kNone);
    r->offer(f.packet);
  }
  EXPECT_EQ(r->pending_stop(), StopReason::kPacketLimit);
  for (int i = 0; i < 10; ++i) r->offer(f.packet);
  EXPECT_EQ(f.state->appended.size(), 5u);
  EXPECT_EQ(f.state->attempts, 5u);  // nothing more is offered to the sink
  const RecordingStats s = r->stats();
  EXPECT_EQ(s.packets_captured, 5u);
  EXPECT_EQ(s.bytes_captured, 5 * f.bytes.size());
  EXPECT_EQ(s.packets_lost(), 0u);
}

TEST(Recording, PacketLimitCountsOnlyAppended) {
  Fixture f;
  f.state->queue_full_at = {1, 3};
  auto r = f.make({.stop = {.packets = 3}});
  for (int i = 0; i < 10; ++i) r->offer(f.packet);
  EXPECT_EQ(f.state->appended.size(), 3u);
  EXPECT_EQ(f.state->attempts, 5u);
  const RecordingStats s = r->stats();
  EXPECT_EQ(s.packets_captured, 3u);
  EXPECT_EQ(s.packets_lost_queue, 2u);
  EXPECT_EQ(s.bytes_lost_queue, 2 * f.bytes.size());
  EXPECT_EQ(r->pending_stop(), StopReason::kPacketLimit);
}

TEST(Recording, ByteLimitIncludesThePacketThatCrossesIt) {
  Fixture f(86);  // 14 + 20 + 8 + 86 = 128 bytes
  ASSERT_EQ(f.bytes.size(), 128u);
  auto r = f.make({.stop = {.bytes = 300}});
  for (int i = 0; i < 10; ++i) r->offer(f.packet);
  EXPECT_EQ(f.state->appended.size(), 3u);  // 256 < 300 <= 384
  EXPECT_EQ(r->stats().bytes_captured, 384u);
  EXPECT_EQ(r->pending_stop(), StopReason::kByteLimit);

  Fixture g(86);
  auto exact = g.make({.stop = {.bytes = 256}});
  for (int i = 0; i < 10; ++i) exact->offer(g.packet);
  EXPECT_EQ(g.state->appended.size(), 2u);  // reaching the limit stops too
  EXPECT_EQ(exact->pending_stop(), StopReason::kByteLimit);
}

TEST(Recording, ByteLimitCountsCapturedBytesAfterSnapLength) {
  Fixture f(86);
  auto r = f.make({.snap_length = 64, .stop = {.bytes = 200}});
  for (int i = 0; i < 10; ++i) r->offer(f.packet);
  EXPECT_EQ(f.state->appended.size(), 4u);  // 64 * 4 = 256 >= 200
  EXPECT_EQ(r->stats().bytes_captured, 256u);
}

TEST(Recording, SnapLengthCutsTheData) {
  Fixture f(100);
  auto r = f.make({.snap_length = 60});
  r->offer(f.packet);
  ASSERT_EQ(f.state->appended.size(), 1u);
  const auto& a = f.state->appended[0];
  EXPECT_EQ(a.data.size(), 60u);
  EXPECT_EQ(a.original_length, f.bytes.size());
  EXPECT_EQ(a.timestamp_ns, f.packet.timestamp_ns);
  EXPECT_TRUE(std::equal(a.data.begin(), a.data.end(), f.bytes.begin()));
  EXPECT_EQ(r->stats().bytes_captured, 60u);

  // A packet shorter than the snap length is kept whole.
  Fixture g(10);
  auto whole = g.make({.snap_length = 1000});
  whole->offer(g.packet);
  EXPECT_EQ(g.state->appended[0].data.size(), g.bytes.size());
}

TEST(Recording, QueueFullIsCountedAsLost) {
  Fixture f;
  f.state->queue_full_at = {0, 2};
  auto r = f.make({.snap_length = 20});
  for (int i = 0; i < 4; ++i) r->offer(f.packet);
  const RecordingStats s = r->stats();
  EXPECT_EQ(s.packets_captured, 2u);
  EXPECT_EQ(s.packets_lost_queue, 2u);
  EXPECT_EQ(s.bytes_lost_queue, 40u);  // captured length, after the snap length
  EXPECT_EQ(r->pending_stop(), StopReason::kNone);
}

TEST(Recording, FailedSinkCountsWriteLossAndStops) {
  Fixture f;
  f.state->fail_from = 2;
  f.state->failure_errno = ENOSPC;
  f.state->lost_on_close = 1;  // one of the two appended packets never reached the disk
  auto r = f.make({});
  for (int i = 0; i < 5; ++i) r->offer(f.packet);
  RecordingStats s = r->stats();
  EXPECT_EQ(s.packets_captured, 2u);
  EXPECT_EQ(s.packets_lost_write, 3u);
  EXPECT_EQ(s.bytes_lost_write, 3 * f.bytes.size());
  EXPECT_EQ(r->pending_stop(), StopReason::kDiskFull);  // from Sink::failure_errno()

  auto result = r->finish();
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(f.state->closed_with_dropped, 3u);  // every packet lost before close
  EXPECT_EQ(r->pending_stop(), StopReason::kDiskFull);
  s = r->stats();
  // The packet lost on close moves from captured to lost; the total stays exact.
  EXPECT_EQ(s.packets_captured, 1u);
  EXPECT_EQ(s.packets_lost_write, 4u);
  EXPECT_EQ(s.bytes_captured + s.bytes_lost_write, 5 * f.bytes.size());
  EXPECT_EQ(result->packets_written, 1u);

  // finish() is idempotent and does not count twice.
  ASSERT_TRUE(r->finish().ok());
  EXPECT_EQ(r->stats().packets_lost_write, 4u);
}

TEST(Recording, OtherWriteErrorsAreWriteErrors) {
  Fixture f;
  f.state->fail_from = 0;
  f.state->failure_errno = EFBIG;
  auto r = f.make({});
  r->offer(f.packet);
  EXPECT_EQ(r->pending_stop(), StopReason::kWriteError);
  r->offer(f.packet);
  EXPECT_EQ(r->pending_stop(), StopReason::kWriteError);
  ASSERT_TRUE(r->finish().ok());
  EXPECT_EQ(r->pending_stop(), StopReason::kWriteError);
}

TEST(Recording, KernelLossAndCloseDroppedCount) {
  Fixture f;
  f.state->queue_full_at = {0};
  auto r = f.make({});
  r->offer(f.packet);
  r->offer(f.packet);
  r->add_kernel_loss(10, 1000);
  r->add_kernel_loss(1, 100);
  const RecordingStats s = r->stats();
  EXPECT_EQ(s.packets_lost_kernel, 11u);
  EXPECT_EQ(s.bytes_lost_kernel, 1100u);
  EXPECT_EQ(s.packets_lost(), 12u);
  EXPECT_EQ(s.bytes_lost(), 1100u + f.bytes.size());
  ASSERT_TRUE(r->finish().ok());
  EXPECT_EQ(f.state->closed_with_dropped, 12u);
}

TEST(Recording, UnwrittenPacketsMoveFromCapturedToWriteLossWhileCapturing) {
  Fixture f;
  auto r = f.make({});
  for (int i = 0; i < 5; ++i) r->offer(f.packet);
  r->count_unwritten(2, 2 * f.bytes.size());  // a ring's chunk closed short of two of them
  r->offer(f.packet);                         // capture goes on
  const RecordingStats s = r->stats();
  EXPECT_EQ(s.packets_captured, 4u);
  EXPECT_EQ(s.bytes_captured, 4 * f.bytes.size());
  EXPECT_EQ(s.packets_lost_write, 2u);
  EXPECT_EQ(s.bytes_lost_write, 2 * f.bytes.size());
  EXPECT_EQ(s.packets_captured + s.packets_lost(), 6u);
}

TEST(Recording, DestructorClosesAnUnfinishedSink) {
  Fixture f;
  {
    auto r = f.make({});
    r->offer(f.packet);
  }
  EXPECT_EQ(f.state->close_calls, 1);
}

TEST(StopReason, Names) {
  EXPECT_EQ(to_string(StopReason::kPacketLimit), "packet limit");
  EXPECT_EQ(to_string(StopReason::kByteLimit), "byte limit");
  EXPECT_EQ(to_string(StopReason::kTimeLimit), "time limit");
  EXPECT_EQ(to_string(StopReason::kRequested), "stopped by request");
  EXPECT_EQ(to_string(StopReason::kClientGone), "client gone");
  EXPECT_EQ(to_string(StopReason::kShutdown), "daemon shutdown");
  EXPECT_EQ(to_string(StopReason::kDiskFull), "disk full");
  EXPECT_EQ(to_string(StopReason::kWriteError), "write error");
  EXPECT_EQ(to_string(StopReason::kInterfaceGone), "interface gone");
  EXPECT_EQ(to_string(StopReason::kSourceEnded), "source ended");
}

}  // namespace
}  // namespace recorder
