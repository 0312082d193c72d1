// RecordingManager with real sinks and files in a temp dir; the test thread plays the packet
// source (on_packet + on_batch_end), as the replay source or the datapath would.
#include "service/recording_manager.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "manager_fixture.h"
#include "pcap_file.h"
#include "service/recording_metadata.h"
#include "temp_dir.h"

namespace recorder::service {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::feed;
using test::spec_for;
using test::wait_stopped;

class ManagerTest : public ::testing::Test {
 protected:
  static ServiceLimits no_disk_floor() {
    ServiceLimits limits;
    limits.min_free_disk = 0;  // the temp dir's filesystem may be nearly full; not tested here
    return limits;
  }

  std::unique_ptr<RecordingManager> make(ServiceLimits limits = no_disk_floor(),
                                         RetentionPolicy retention = {}) {
    ManagerOptions options;
    options.retention = retention;
    options.storage_path = storage_.path() / "store";
    options.node_name = "unit";
    options.limits = limits;
    auto m = RecordingManager::create(options);
    EXPECT_TRUE(m.ok()) << m.error().message();
    return m.ok() ? std::move(*m) : nullptr;
  }

  recorder::test::TempDir storage_{"svc-manager"};
};

TEST_F(ManagerTest, StartRecordStopIsIdempotentAndFileIsComplete) {
  auto m = make();
  auto info = m->start(spec_for("10.0.0.1 0 10.0.0.2 53 UDP"));
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->state, RecordingState::kRunning);
  EXPECT_EQ(m->running_count(), 1u);
  feed(*m, 25);
  feed(*m, 5, 80);  // not matching

  auto running_file = m->open_file(info->id);
  ASSERT_FALSE(running_file.ok());
  EXPECT_EQ(running_file.error().code(), ErrorCode::kFailedPrecondition);

  auto stopped = m->stop(info->id, StopReason::kRequested);
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  EXPECT_EQ(stopped->state, RecordingState::kStopped);
  EXPECT_EQ(stopped->stop_reason, StopReason::kRequested);
  EXPECT_EQ(stopped->stats.packets_captured, 25u);
  EXPECT_TRUE(stopped->file_path.is_absolute());
  EXPECT_EQ(stopped->file_size, fs::file_size(stopped->file_path));
  auto contents = recorder::test::read_pcap(stopped->file_path.string());
  EXPECT_EQ(contents.records.size(), 25u);

  // Stop again: same final state, the first reason wins.
  auto again = m->stop(info->id, StopReason::kShutdown);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->stop_reason, StopReason::kRequested);
  EXPECT_EQ(again->stats.packets_captured, 25u);
  EXPECT_EQ(m->running_count(), 0u);

  auto unknown = m->stop(9999, StopReason::kRequested);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
}

TEST_F(ManagerTest, PacketLimitStopsTheRecordingFromTheControlThread) {
  auto m = make();
  auto info = m->start(spec_for("any 0 any 53 UDP", 7));
  ASSERT_TRUE(info.ok()) << info.error().message();
  feed(*m, 20);
  auto final_info = wait_stopped(*m, info->id);
  EXPECT_EQ(final_info.stop_reason, StopReason::kPacketLimit);
  EXPECT_EQ(final_info.stats.packets_captured, 7u);
  EXPECT_EQ(recorder::test::read_pcap(final_info.file_path.string()).records.size(), 7u);
}

TEST_F(ManagerTest, TimeLimitStopsTheRecording) {
  auto m = make();
  auto spec = spec_for("any 0 any 0 ANY");
  spec.recording.stop.duration = 100ms;
  auto info = m->start(spec);
  ASSERT_TRUE(info.ok());
  auto final_info = wait_stopped(*m, info->id);
  EXPECT_EQ(final_info.stop_reason, StopReason::kTimeLimit);
}

TEST_F(ManagerTest, OverlappingRecordingsEachGetTheirPackets) {
  auto m = make();
  auto dns = m->start(spec_for("any 0 any 53 UDP"));
  auto all = m->start(spec_for("10.0.0.0/8 0 any 0 ANY"));
  ASSERT_TRUE(dns.ok() && all.ok());
  feed(*m, 10, 53);
  feed(*m, 4, 80);
  auto a = m->stop(dns->id, StopReason::kRequested);
  auto b = m->stop(all->id, StopReason::kRequested);
  EXPECT_EQ(a->stats.packets_captured, 10u);
  EXPECT_EQ(b->stats.packets_captured, 14u);
  EXPECT_NE(a->file_path, b->file_path);
}

TEST_F(ManagerTest, EnforcesRecordingAndDiskLimits) {
  ServiceLimits limits = no_disk_floor();
  limits.max_recordings = 1;
  auto m = make(limits);
  auto first = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_TRUE(first.ok());
  auto second = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kResourceExhausted);
  ASSERT_TRUE(m->stop(first->id, StopReason::kRequested).ok());
  EXPECT_TRUE(m->start(spec_for("any 0 any 0 ANY")).ok());
  m.reset();

  ServiceLimits disk = no_disk_floor();
  disk.min_free_disk = 1ull << 62;  // more than any disk has
  auto d = make(disk);
  auto refused = d->start(spec_for("any 0 any 0 ANY"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.error().message().find("free"), std::string::npos);
}

TEST_F(ManagerTest, ShutdownStopsEverythingAndRefusesStarts) {
  auto m = make();
  auto info = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_TRUE(info.ok());
  feed(*m, 3);
  m->shutdown();
  auto final_info = m->get(info->id);
  ASSERT_TRUE(final_info.ok());
  EXPECT_EQ(final_info->state, RecordingState::kStopped);
  EXPECT_EQ(final_info->stop_reason, StopReason::kShutdown);
  EXPECT_EQ(recorder::test::read_pcap(final_info->file_path.string()).records.size(), 3u);
  auto refused = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
}

TEST_F(ManagerTest, RegistryIsRebuiltFromTheStorageDirectory) {
  uint64_t id = 0;
  fs::path file;
  {
    auto m = make();
    auto info = m->start(spec_for("10.0.0.1 0 10.0.0.2 53 UDP"));
    ASSERT_TRUE(info.ok());
    feed(*m, 12);
    auto stopped = m->stop(info->id, StopReason::kRequested);
    id = stopped->id;
    file = stopped->file_path;
  }
  // A file without metadata (e.g. from a crash repaired by recovery) is listed too.
  fs::path foreign = storage_.path() / "store" / "other_20250101T000000Z_40_node.pcap";
  fs::copy_file(file, foreign);

  auto m = make();
  auto list = m->list().recordings;
  ASSERT_EQ(list.size(), 2u);
  auto info = m->get(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, RecordingState::kStopped);
  EXPECT_EQ(info->stop_reason, StopReason::kRequested);  // from the metadata
  EXPECT_EQ(info->stats.packets_captured, 12u);
  ASSERT_EQ(info->filters.size(), 1u);
  EXPECT_EQ(info->filters[0].destination_port, 53);
  auto other = m->get(40);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->stats.packets_captured, 12u);  // counted from the file
  EXPECT_EQ(other->file_prefix, "other");
  // New ids continue after the highest one found.
  auto next = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->id, 40u);
}

TEST_F(ManagerTest, DeleteRemovesTheFileAndRefusesWhileRunning) {
  auto m = make();
  auto info = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_TRUE(info.ok());
  auto running = m->remove(info->id);
  ASSERT_FALSE(running.ok());
  EXPECT_EQ(running.error().code(), ErrorCode::kFailedPrecondition);
  auto stopped = m->stop(info->id, StopReason::kRequested);
  ASSERT_TRUE(fs::exists(stopped->file_path));
  ASSERT_TRUE(m->remove(info->id).ok());
  EXPECT_FALSE(fs::exists(stopped->file_path));
  EXPECT_EQ(m->get(info->id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(m->remove(info->id).error().code(), ErrorCode::kNotFound);
}

TEST_F(ManagerTest, DownloadAndDeleteNeverLeaveTheStorageDirectory) {
  auto m = make();
  auto info = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_TRUE(info.ok());
  auto stopped = m->stop(info->id, StopReason::kRequested);
  ASSERT_TRUE(stopped.ok());
  // Someone swaps the finished file for a link to a file outside the storage directory.
  fs::path outside = storage_.path() / "precious";
  std::ofstream(outside) << "do not serve or delete me";
  fs::remove(stopped->file_path);
  fs::create_symlink(outside, stopped->file_path);

  auto file = m->open_file(info->id);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code(), ErrorCode::kFailedPrecondition) << file.error().message();
  EXPECT_FALSE(m->remove(info->id).ok());
  EXPECT_TRUE(fs::exists(outside));
}

TEST_F(ManagerTest, OpenFileReadsWhatWasCheckedEvenWhenTheNameIsSwappedAfterwards) {
  auto m = make();
  auto info = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_TRUE(info.ok());
  feed(*m, 3);
  auto stopped = m->stop(info->id, StopReason::kRequested);
  ASSERT_TRUE(stopped.ok());
  auto file = m->open_file(info->id);
  ASSERT_TRUE(file.ok()) << file.error().message();
  EXPECT_EQ(file->name, stopped->file_path.filename().string());
  // The name now points outside; Download reads from the fd it was given, not the name.
  fs::path outside = storage_.path() / "precious";
  std::ofstream(outside) << "do not serve me";
  fs::remove(stopped->file_path);
  fs::create_symlink(outside, stopped->file_path);
  struct stat st {};
  ASSERT_EQ(::fstat(file->fd.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), stopped->file_size);
  uint32_t magic = 0;
  ASSERT_EQ(::pread(file->fd.get(), &magic, sizeof(magic), 0), 4);
  // The recording's pcap header (micro- or nanosecond), not the outside file.
  EXPECT_TRUE(magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) << std::hex << magic;

  // A hard link to an outside file under a recording's name is refused too.
  fs::remove(stopped->file_path);
  fs::create_hard_link(outside, stopped->file_path);
  auto linked = m->open_file(info->id);
  ASSERT_FALSE(linked.ok());
  EXPECT_EQ(linked.error().code(), ErrorCode::kFailedPrecondition) << linked.error().message();
}

TEST_F(ManagerTest, MetadataWriteFailureIsLoggedAndRetriedUntilItIsWritten) {
  uint64_t id = 0;
  {
    auto m = make();
    auto info = m->start(spec_for("any 0 any 0 ANY"));
    ASSERT_TRUE(info.ok()) << info.error().message();
    feed(*m, 5);
    // Something occupies the metadata's name so the rename cannot succeed for now.
    const fs::path blocker = m->storage_path() / metadata_file_name(info->file_name);
    fs::create_directory(blocker);
    std::ofstream(blocker / "in-the-way") << "x";
    auto stopped = m->stop(info->id, StopReason::kRequested);
    ASSERT_TRUE(stopped.ok()) << stopped.error().message();
    id = stopped->id;
    EXPECT_TRUE(fs::is_directory(blocker));
    // Once the obstacle is gone, the retry writes it.
    fs::remove_all(blocker);
    bool written = false;
    for (int i = 0; i < 1000 && !written; ++i) {
      written = fs::is_regular_file(blocker);
      if (!written) std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(written) << "the metadata write was not retried";
  }
  auto restarted = make();
  auto info = restarted->get(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->stop_reason, StopReason::kRequested);
  EXPECT_EQ(info->stats.packets_captured, 5u);
  EXPECT_TRUE(info->stop_message.empty()) << info->stop_message;
}

// Starts and stops a recording with `packets` packets; its final state.
RecordingInfo record(RecordingManager& m, int packets) {
  auto info = m.start(spec_for("any 0 any 0 ANY"));
  EXPECT_TRUE(info.ok()) << info.error().message();
  if (!info.ok()) return {};
  feed(m, packets);
  auto stopped = m.stop(info->id, StopReason::kRequested);
  EXPECT_TRUE(stopped.ok());
  return stopped.ok() ? *stopped : RecordingInfo{};
}

// Waits (up to 5 s) until the registry holds exactly `ids`.
bool wait_for_ids(RecordingManager& m, const std::vector<uint64_t>& ids) {
  for (int i = 0; i < 500; ++i) {
    std::vector<uint64_t> now;
    for (const auto& info : m.list().recordings) now.push_back(info.id);
    if (now == ids) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST_F(ManagerTest, RetentionDeletesTheOldestFinishedButNeverARunningOne) {
  RetentionPolicy retention;
  retention.max_count = 2;
  auto m = make(no_disk_floor(), retention);
  auto running = m->start(spec_for("any 0 any 0 ANY"));
  ASSERT_TRUE(running.ok());
  std::vector<RecordingInfo> finished;
  for (int i = 0; i < 4; ++i) finished.push_back(record(*m, 3));

  ASSERT_TRUE(wait_for_ids(*m, {running->id, finished[2].id, finished[3].id}));
  EXPECT_EQ(m->get(running->id)->state, RecordingState::kRunning);
  for (int i = 0; i < 2; ++i) {
    // Disk and memory both freed: the file, its metadata and the entry.
    EXPECT_FALSE(fs::exists(finished[i].file_path));
    EXPECT_FALSE(fs::exists(m->storage_path() / metadata_file_name(finished[i].file_name)));
    EXPECT_EQ(m->get(finished[i].id).error().code(), ErrorCode::kNotFound);
  }
  EXPECT_TRUE(fs::exists(finished[3].file_path));
  EXPECT_TRUE(fs::exists(m->storage_path() / metadata_file_name(finished[3].file_name)));
}

TEST_F(ManagerTest, RetentionByBytesAppliesAtStartUpAndByAgeAsTimePasses) {
  std::vector<RecordingInfo> finished;
  {
    auto m = make();
    for (int i = 0; i < 3; ++i) finished.push_back(record(*m, 5));
  }
  RetentionPolicy by_bytes;
  by_bytes.max_bytes = finished[2].file_size;  // room for the newest only
  {
    auto m = make(no_disk_floor(), by_bytes);
    ASSERT_TRUE(wait_for_ids(*m, {finished[2].id}));
    EXPECT_FALSE(fs::exists(finished[0].file_path));
    EXPECT_FALSE(fs::exists(finished[1].file_path));
  }
  RetentionPolicy by_age;
  by_age.max_age = 1ms;
  auto m = make(no_disk_floor(), by_age);
  ASSERT_TRUE(wait_for_ids(*m, {}));
  EXPECT_FALSE(fs::exists(finished[2].file_path));
}

TEST_F(ManagerTest, ListPagesFollowIdsAfterTheLastOneSeen) {
  auto m = make();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(record(*m, 1).id);
  std::vector<uint64_t> seen;
  uint64_t after = 0;
  for (bool more = true; more;) {
    auto page = m->list(after, 2);
    EXPECT_LE(page.recordings.size(), 2u);
    for (const auto& info : page.recordings) seen.push_back(info.id);
    if (!page.recordings.empty()) after = page.recordings.back().id;
    more = page.more;
  }
  EXPECT_EQ(seen, ids);
  EXPECT_TRUE(m->list(ids.back(), 2).recordings.empty());
}

}  // namespace
}  // namespace recorder::service
