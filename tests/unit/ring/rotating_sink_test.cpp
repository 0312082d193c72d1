// RotatingSink with the real sink and writer pool: chunks rotate by size and by the time their
// packets span, each closed chunk is a complete file that libpcap reads, nothing is lost or
// duplicated across chunks, a chunk and its index stay within the chunk size when the next chunk
// is ready, the producer never waits for a chunk that is not ready, and it never rotates into a
// chunk ahead whose sink failed before its first packet (the disk at its free-space floor).
#include "ring/rotating_sink.h"

#include <gtest/gtest.h>

#include "chunk_writer.h"
#include "pcap_file.h"
#include "ring/chunk_files.h"
#include "temp_dir.h"

namespace recorder::ring {
namespace {

class Rotation {
 public:
  // `open_first`: the sink starts with a chunk (as a ring's does), else it has none until
  // maintain() provides one.
  // `index_capacity`: the packets each chunk's index table has room for.
  Rotation(RotationLimits limits, const std::filesystem::path& dir, bool open_first = false,
           size_t index_capacity = 1u << 16)
      : dir_(dir),
        index_capacity_(index_capacity),
        pool_(make_pool()),
        sink_(limits, open_first ? open_chunk() : nullptr) {}
  ~Rotation() { close_all(); }

  // What a ring's maintenance does each tick: take the full chunk, provide the next.
  void maintain() {
    if (auto retired = sink_.take_retired()) finish(std::move(retired));
    if (sink_.wants_next()) {
      auto chunk = open_chunk();
      ASSERT_NE(chunk, nullptr);
      sink_.provide_next(std::move(chunk));
    }
  }
  void close_all() {
    for (auto& chunk : sink_.take_remaining()) finish(std::move(chunk));
  }
  RotatingSink& sink() { return sink_; }
  // A chunk whose writer keeps a free-space floor larger than any disk: its file header is
  // refused, as on a disk at its --min-free-disk floor.
  std::unique_ptr<Chunk> open_chunk_at_the_floor() {
    if (!full_pool_) {
      sink::WriterPool::Options options;
      options.min_free_disk = 1ull << 62;
      auto pool = sink::WriterPool::create(options);
      EXPECT_TRUE(pool.ok());
      if (!pool.ok()) return nullptr;
      full_pool_ = std::move(*pool);
    }
    return open_chunk(*full_pool_);
  }
  void finish(std::unique_ptr<Chunk> chunk) {
    auto closed = chunk->sink->close(0);
    ASSERT_TRUE(closed.ok());
    if (closed->packets_written > 0) {
      files_.push_back(closed->path.string());
      index_bytes_.push_back(
          chunk->index.finish(sink::FileFormat::kPcap, std::vector<ChunkInterface>{}).size_bytes());
    }
  }
  const std::vector<std::string>& files() const { return files_; }
  // Bytes of each closed chunk's index (as its file would take them).
  const std::vector<uint64_t>& index_bytes() const { return index_bytes_; }

 private:
  static std::unique_ptr<sink::WriterPool> make_pool() {
    auto pool = sink::WriterPool::create({});
    EXPECT_TRUE(pool.ok());
    return pool.ok() ? std::move(*pool) : nullptr;
  }
  std::unique_ptr<Chunk> open_chunk() { return open_chunk(*pool_); }
  std::unique_ptr<Chunk> open_chunk(sink::WriterPool& pool) {
    auto chunk = std::make_unique<Chunk>();
    chunk->seq = next_seq_++;
    chunk->file_name = chunk_file_name(chunk->seq, sink::FileFormat::kPcap);
    chunk->index.reserve(index_capacity_);
    sink::SinkOptions options;
    options.path = dir_ / chunk->file_name;
    options.queue_bytes = 1u << 20;
    auto opened = sink::Sink::open(pool, options);
    EXPECT_TRUE(opened.ok()) << opened.error().message();
    if (!opened.ok()) return nullptr;
    chunk->sink = std::move(*opened);
    return chunk;
  }

  std::filesystem::path dir_;
  size_t index_capacity_;
  std::unique_ptr<sink::WriterPool> pool_;
  std::unique_ptr<sink::WriterPool> full_pool_;
  uint64_t next_seq_ = 1;
  RotatingSink sink_;
  std::vector<std::string> files_;
  std::vector<uint64_t> index_bytes_;
};

std::vector<test::TestPacket> packets(size_t n, size_t size, uint64_t gap_ns) {
  std::vector<test::TestPacket> out;
  for (size_t i = 0; i < n; ++i) {
    test::TestPacket p;
    p.timestamp_ns = 1700000000000000000ull + i * gap_ns;
    p.data.assign(size, static_cast<uint8_t>(i));
    out.push_back(std::move(p));
  }
  return out;
}

// Offers every packet, maintaining after each (a ring's thread does it every tick).
void feed(Rotation& r, const std::vector<test::TestPacket>& all) {
  for (const auto& p : all) {
    r.maintain();
    ASSERT_EQ(r.sink().try_append(test::captured(p)), sink::AppendResult::kAppended);
  }
  r.close_all();
}

// The concatenation of the chunks, in order, is exactly what was offered.
void expect_all_in_order(const Rotation& r, const std::vector<test::TestPacket>& all) {
  size_t i = 0;
  for (const auto& file : r.files()) {
    const auto contents = ::recorder::test::read_pcap(file);  // a complete, valid file
    for (const auto& rec : contents.records) {
      ASSERT_LT(i, all.size());
      EXPECT_EQ(rec.timestamp_ns, all[i].timestamp_ns);
      EXPECT_EQ(rec.data, all[i].data);
      ++i;
    }
  }
  EXPECT_EQ(i, all.size());
}

TEST(RotatingSink, RotatesBySizeIntoCompleteChunks) {
  ::recorder::test::TempDir dir("ringrot");
  RotationLimits limits;
  limits.chunk_bytes = 64u << 10;
  Rotation r(limits, dir.path());
  const auto all = packets(1000, 500, 1000);  // ~516 KB: about 8 chunks
  feed(r, all);
  ASSERT_GE(r.files().size(), 8u);
  auto blocks = [](uint64_t n) { return (n + 4095) / 4096 * 4096; };
  for (size_t i = 0; i < r.files().size(); ++i) {
    const auto size = std::filesystem::file_size(r.files()[i]);
    // On disk, the chunk and its index, and the first block of the next chunk, fit the size.
    EXPECT_LE(blocks(size) + blocks(r.index_bytes()[i]) + 4096, limits.chunk_bytes);
    if (i + 1 < r.files().size()) {
      EXPECT_GE(size, limits.chunk_bytes / 2) << "rotated early";
    }
  }
  expect_all_in_order(r, all);
}

TEST(RotatingSink, RotatesByTheTimeItsPacketsSpan) {
  ::recorder::test::TempDir dir("ringrot");
  RotationLimits limits;
  limits.chunk_duration_ns = 1000000000;  // 1 s
  Rotation r(limits, dir.path());
  const auto all = packets(50, 100, 100000000);  // one every 100 ms: 5 s
  feed(r, all);
  ASSERT_EQ(r.files().size(), 5u);
  for (const auto& file : r.files()) {
    const auto contents = ::recorder::test::read_pcap(file);
    ASSERT_EQ(contents.records.size(), 10u);
    EXPECT_LT(contents.records.back().timestamp_ns - contents.records.front().timestamp_ns,
              limits.chunk_duration_ns);
  }
  expect_all_in_order(r, all);
}

TEST(RotatingSink, KeepsWritingTheCurrentChunkWhileNoNextOneIsReady) {
  ::recorder::test::TempDir dir("ringrot");
  RotationLimits limits;
  limits.chunk_bytes = 16384;
  Rotation r(limits, dir.path());
  r.maintain();  // the first chunk only
  const auto all = packets(100, 200, 1000);
  for (const auto& p : all) {
    ASSERT_EQ(r.sink().try_append(test::captured(p)), sink::AppendResult::kAppended);
  }
  r.close_all();
  ASSERT_EQ(r.files().size(), 1u);  // never waited, never dropped: one oversized chunk
  expect_all_in_order(r, all);
}

// A chunk whose index table is full while no next chunk is ready still takes every packet, but
// its index takes no more: the producer never grows the table (an allocation and a copy of tens
// of MB on the hot path). The ring rebuilds such an index from the file when it closes the chunk.
TEST(RotatingSink, AFullIndexWithNoNextChunkLeavesPacketsOutOfTheIndexNotTheFile) {
  ::recorder::test::TempDir dir("ringrot");
  Rotation r(RotationLimits{}, dir.path(), /*open_first=*/true, /*index_capacity=*/50);
  const auto all = packets(80, 100, 1000);
  for (const auto& p : all) {
    ASSERT_EQ(r.sink().try_append(test::captured(p)), sink::AppendResult::kAppended);
  }
  ASSERT_NE(r.sink().current(), nullptr);
  EXPECT_TRUE(r.sink().current()->index.full());
  EXPECT_EQ(r.sink().current()->index.packets(), 50u);
  EXPECT_EQ(r.sink().current()->packets(), 80u);
  r.close_all();
  ASSERT_EQ(r.files().size(), 1u);
  expect_all_in_order(r, all);
}

TEST(RotatingSink, WritesTheChunkItStartsWithWithoutARotation) {
  ::recorder::test::TempDir dir("ringrot");
  int wakes = 0;
  RotationLimits limits;
  limits.wake = {[](void* count) { ++*static_cast<int*>(count); }, &wakes};
  Rotation r(limits, dir.path(), /*open_first=*/true);
  const auto all = packets(10, 100, 1000);
  for (const auto& p : all) {
    ASSERT_EQ(r.sink().try_append(test::captured(p)), sink::AppendResult::kAppended);
  }
  EXPECT_EQ(wakes, 0);
  r.close_all();
  ASSERT_EQ(r.files().size(), 1u);
  expect_all_in_order(r, all);
}

TEST(RotatingSink, NeverRotatesIntoAChunkAheadThatFailedBeforeItsFirstPacket) {
  ::recorder::test::TempDir dir("ringrot");
  int wakes = 0;
  RotationLimits limits;
  limits.chunk_bytes = 16384;
  limits.wake = {[](void* count) { ++*static_cast<int*>(count); }, &wakes};
  Rotation r(limits, dir.path(), /*open_first=*/true);
  // The next chunk in line was opened while the disk was at its floor: its writer refused the
  // file header before any packet came. The one after it is healthy.
  auto dead = r.open_chunk_at_the_floor();
  ASSERT_NE(dead, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!dead->sink->failed() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(dead->sink->failed()) << "the writer did not refuse the header";
  const Chunk* dead_chunk = dead.get();
  r.sink().provide_next(std::move(dead));
  r.maintain();                              // the healthy next chunk, after it
  const auto all = packets(100, 200, 1000);  // more than the first chunk holds
  for (const auto& p : all) {
    ASSERT_EQ(r.sink().try_append(test::captured(p)), sink::AppendResult::kAppended);
  }
  auto discarded = r.sink().take_discarded();
  EXPECT_EQ(discarded.get(), dead_chunk) << "the dead chunk is handed back to be replaced";
  EXPECT_GE(wakes, 2) << "a rotation and a discarded chunk each wake the control side";
  if (discarded) r.finish(std::move(discarded));
  r.close_all();
  ASSERT_EQ(r.files().size(), 2u);  // the first chunk and the healthy one
  expect_all_in_order(r, all);
}

TEST(RotatingSink, WithoutAnyChunkAPacketIsCountedAsNotQueued) {
  RotatingSink sink(RotationLimits{});
  test::TestPacket p;
  p.data.assign(60, 1);
  EXPECT_EQ(sink.try_append(test::captured(p)), sink::AppendResult::kQueueFull);
}

}  // namespace
}  // namespace recorder::ring
