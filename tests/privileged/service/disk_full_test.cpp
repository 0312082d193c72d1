// Recordings on a disk that fills up for real: a small tmpfs mounted for the test. What a
// recording leaves (its file and its metadata) must be complete however full the disk gets.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

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
    options.tick = std::chrono::milliseconds(10);
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

}  // namespace
}  // namespace recorder::service
