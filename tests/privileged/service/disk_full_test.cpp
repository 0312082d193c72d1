// Recordings on a disk that fills up for real: a small tmpfs mounted for the test. What a
// recording leaves (its file and its metadata) must be complete however full the disk gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "manager_fixture.h"
#include "pcap_file.h"
#include "privileged.h"
#include "service/recording_manager.h"
#include "service/recording_metadata.h"
#include "tmpfs.h"

namespace recorder::service {
namespace {
namespace fs = std::filesystem;

class DiskFullTest : public ::testing::Test {
 protected:
  std::unique_ptr<RecordingManager> make(uint64_t min_free_disk) {
    ManagerOptions options;
    options.storage_path = tmpfs_->path() / "store";
    options.node_name = "disk";
    options.limits.min_free_disk = min_free_disk;
    options.limits.queue_bytes_per_recording = 1u << 20;
    auto m = RecordingManager::create(options);
    EXPECT_TRUE(m.ok()) << m.error().message();
    return m.ok() ? std::move(*m) : nullptr;
  }

  // Starts two recordings of everything and feeds packets until both have stopped.
  std::vector<RecordingInfo> fill_with_two_recordings(RecordingManager& m) {
    auto a = m.start(test::spec_for("any 0 any 0 ANY"));
    auto b = m.start(test::spec_for("any 0 any 0 ANY"));
    EXPECT_TRUE(a.ok() && b.ok());
    if (!a.ok() || !b.ok()) return {};
    for (int i = 0; i < 20000 && m.running_count() > 0; ++i) {
      test::feed(m, 50, 53, 1000);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {test::wait_stopped(m, a->id), test::wait_stopped(m, b->id)};
  }

  void SetUp() override {
    RECORDER_REQUIRE_ROOT();
    tmpfs_ = std::make_unique<recorder::test::SmallTmpfs>("2m");
    ASSERT_TRUE(tmpfs_->mounted()) << tmpfs_->path() << ": " << tmpfs_->error();
  }

  std::unique_ptr<recorder::test::SmallTmpfs> tmpfs_;
};

TEST_F(DiskFullTest, MetadataSurvivesTwoRecordingsFillingTheDisk) {
  std::vector<RecordingInfo> stopped;
  {
    auto m = make(0);  // no floor: the disk fills up completely
    ASSERT_NE(m, nullptr);
    stopped = fill_with_two_recordings(*m);
    ASSERT_EQ(stopped.size(), 2u);
    for (const auto& info : stopped) {
      EXPECT_EQ(info.stop_reason, StopReason::kDiskFull) << info.stop_message;
      EXPECT_GT(info.stats.packets_lost_write, 0u);
      const fs::path json = m->storage_path() / metadata_file_name(info.file_name);
      ASSERT_TRUE(fs::exists(json));
      EXPECT_GT(fs::file_size(json), 0u) << "metadata written empty on the full disk";
    }
  }
  // After a restart the registry shows what the recordings ended with, losses and reason.
  auto m = make(0);
  ASSERT_NE(m, nullptr);
  for (const auto& before : stopped) {
    auto after = m->get(before.id);
    ASSERT_TRUE(after.ok()) << after.error().message();
    EXPECT_EQ(after->stop_reason, StopReason::kDiskFull);
    EXPECT_EQ(after->stop_message, before.stop_message);
    EXPECT_EQ(after->stats.packets_captured, before.stats.packets_captured);
    EXPECT_EQ(after->stats.packets_lost_write, before.stats.packets_lost_write);
    EXPECT_EQ(after->stats.bytes_lost_write, before.stats.bytes_lost_write);
    EXPECT_EQ(recorder::test::read_pcap(after->file_path.string()).records.size(),
              after->stats.packets_captured);
  }
}

// Samples the free space of a filesystem on a thread of its own until destroyed; keeps the
// lowest value seen.
class FreeSpaceSampler {
 public:
  explicit FreeSpaceSampler(const recorder::test::SmallTmpfs& fs)
      : thread_([this, &fs] {
          while (!done_.load()) {
            lowest_.store(std::min(lowest_.load(), fs.free_bytes()));
            std::this_thread::sleep_for(std::chrono::microseconds(50));
          }
        }) {}
  ~FreeSpaceSampler() { stop(); }
  uint64_t stop() {
    done_.store(true);
    if (thread_.joinable()) thread_.join();
    return lowest_.load();
  }

 private:
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> lowest_{UINT64_MAX};
  std::thread thread_;
};

TEST_F(DiskFullTest, WritersStopRecordingsBeforeTheFreeSpaceFloor) {
  constexpr uint64_t kFloor = 1u << 20;  // --min-free-disk 1MiB on the 2 MiB tmpfs
  // What may go below the floor: page rounding of the files' last pages, and metadata JSON.
  constexpr uint64_t kSlack = 64u << 10;
  FreeSpaceSampler sampler(*tmpfs_);
  auto m = make(kFloor);
  ASSERT_NE(m, nullptr);
  const auto stopped = fill_with_two_recordings(*m);
  const uint64_t lowest = sampler.stop();
  ASSERT_EQ(stopped.size(), 2u);
  EXPECT_GT(lowest, 0u) << "the filesystem filled up";
  EXPECT_GE(lowest + kSlack, kFloor) << "free space fell to " << lowest;
  EXPECT_GE(tmpfs_->free_bytes() + kSlack, kFloor);
  for (const auto& info : stopped) {
    EXPECT_EQ(info.stop_reason, StopReason::kDiskFull) << info.stop_message;
    EXPECT_NE(info.stop_message.find("free-space floor"), std::string::npos) << info.stop_message;
    EXPECT_GT(info.stats.packets_captured, 0u);
    EXPECT_EQ(recorder::test::read_pcap(info.file_path.string()).records.size(),
              info.stats.packets_captured);
    const fs::path json = m->storage_path() / metadata_file_name(info.file_name);
    ASSERT_TRUE(fs::exists(json));
    EXPECT_GT(fs::file_size(json), 0u);
  }
  // At the floor, new recordings are refused.
  auto refused = m->start(test::spec_for("any 0 any 0 ANY"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.error().message().find("--min-free-disk"), std::string::npos);
}

}  // namespace
}  // namespace recorder::service
