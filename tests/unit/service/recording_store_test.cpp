// RecordingStore on a real directory: metadata written atomically through a reservation, never
// through a link planted under the names it uses, and read back as it was written.
#include "service/recording_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "service/recording_metadata.h"
#include "temp_dir.h"

namespace recorder::service {
namespace {
namespace fs = std::filesystem;

constexpr const char* kFile = "test_20250101T000000Z_7_node.pcap";

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

RecordingInfo finished_info() {
  RecordingInfo info;
  info.id = 7;
  info.state = RecordingState::kStopped;
  info.stop_reason = StopReason::kDiskFull;
  info.stop_message = "write: No space left on device";
  info.stats.packets_captured = 1234;
  info.stats.bytes_captured = 56789;
  info.stats.packets_lost_write = 17;
  info.stats.bytes_lost_write = 1700;
  info.file_name = kFile;
  info.file_prefix = "test";
  info.node_name = "node";
  return info;
}

class RecordingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = RecordingStore::open(dir_.path() / "store");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(*store);
  }
  fs::path in_store(const std::string& name) const { return store_->path() / name; }

  // Reads the metadata back the way the registry does at start-up.
  RecordingInfo read_back() const {
    auto text = store_->read_metadata(kFile);
    EXPECT_TRUE(text.ok()) << text.error().message();
    RecordingInfo info;
    if (text.ok()) {
      auto parsed = from_metadata_json(*text, info);
      EXPECT_TRUE(parsed.ok()) << parsed.error().message() << "\n" << *text;
    }
    return info;
  }

  test::TempDir dir_{"store-test"};
  std::unique_ptr<RecordingStore> store_;
};

TEST_F(RecordingStoreTest, ReservedMetadataIsWrittenWholeAndLeavesNoTemporary) {
  auto slot = store_->reserve_metadata(finished_info());
  ASSERT_TRUE(slot.ok()) << slot.error().message();
  // The reservation holds disk space already (so a full disk cannot starve it later).
  struct stat st {};
  ASSERT_EQ(::stat(in_store(std::string(".") + kFile + ".json.tmp").c_str(), &st), 0);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, 4096u);

  auto saved = store_->save(finished_info(), *slot);
  ASSERT_TRUE(saved.ok()) << saved.error().message();
  EXPECT_TRUE(slot->empty());
  const auto info = read_back();
  EXPECT_EQ(info.stop_reason, StopReason::kDiskFull);
  EXPECT_EQ(info.stop_message, "write: No space left on device");
  EXPECT_EQ(info.stats.packets_captured, 1234u);
  EXPECT_EQ(info.stats.packets_lost_write, 17u);
  EXPECT_EQ(info.stats.bytes_lost_write, 1700u);
  for (const auto& entry : fs::directory_iterator(store_->path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
        << entry.path() << " left behind";
  }
}

TEST_F(RecordingStoreTest, PlantedLinksAtTheMetadataNamesAreReplacedNotFollowed) {
  const fs::path outside = dir_.path() / "precious";
  std::ofstream(outside) << "not yours";
  fs::create_symlink(outside, in_store(std::string(".") + kFile + ".json.tmp"));
  fs::create_symlink(outside, in_store(std::string(".") + kFile + ".json"));

  auto slot = store_->reserve_metadata(finished_info());
  ASSERT_TRUE(slot.ok()) << slot.error().message();
  ASSERT_TRUE(store_->save(finished_info(), *slot).ok());

  EXPECT_EQ(read_text(outside), "not yours");
  EXPECT_FALSE(fs::is_symlink(in_store(std::string(".") + kFile + ".json")));
  EXPECT_EQ(read_back().stats.packets_captured, 1234u);
}

TEST_F(RecordingStoreTest, SaveWithoutReservationAndRemoveTakeBothFiles) {
  std::ofstream(in_store(kFile)) << "pcap bytes";
  MetadataSlot none;
  ASSERT_TRUE(store_->save(finished_info(), none).ok());
  EXPECT_EQ(read_back().stop_reason, StopReason::kDiskFull);
  ASSERT_TRUE(store_->remove(kFile).ok());
  EXPECT_FALSE(fs::exists(in_store(kFile)));
  EXPECT_FALSE(fs::exists(in_store(std::string(".") + kFile + ".json")));
  EXPECT_TRUE(store_->remove(kFile).ok()) << "already gone is no error";
}

// The relay writes a recording's metadata while it runs (saved again over it at the stop), with
// its per-node breakdown: state and nodes read back as written.
TEST_F(RecordingStoreTest, RunningStateAndNodeBreakdownReadBackAsWritten) {
  RecordingInfo info = finished_info();
  info.state = RecordingState::kRunning;
  NodeRecording node;
  node.node_name = "node-a";
  node.address = "unix:///run/a.sock";
  node.error = "stop: UNAVAILABLE: gone";
  node.recording_id = 12;
  node.state = RecordingState::kStopping;
  node.stop_reason = StopReason::kPacketLimit;
  node.stats.packets_captured = 5;
  node.stats.bytes_lost_queue = 9;
  node.file_path = "/var/lib/a.pcapng";
  node.file_size = 4096;
  node.packets_merged = 4;
  info.nodes = {node, NodeRecording{}};
  MetadataSlot none;
  ASSERT_TRUE(store_->save(info, none).ok());
  RecordingInfo back = read_back();
  EXPECT_EQ(back.state, RecordingState::kRunning);
  ASSERT_EQ(back.nodes.size(), 2u);
  const NodeRecording& a = back.nodes[0];
  EXPECT_EQ(a.node_name, "node-a");
  EXPECT_EQ(a.address, node.address);
  EXPECT_EQ(a.error, node.error);
  EXPECT_EQ(a.recording_id, 12u);
  EXPECT_EQ(a.state, RecordingState::kStopping);
  EXPECT_EQ(a.stop_reason, StopReason::kPacketLimit);
  EXPECT_EQ(a.stats.packets_captured, 5u);
  EXPECT_EQ(a.stats.bytes_lost_queue, 9u);
  EXPECT_EQ(a.file_path, node.file_path);
  EXPECT_EQ(a.file_size, 4096u);
  EXPECT_EQ(a.packets_merged, 4u);
  // A daemon's metadata (no nodes) leaves none.
  MetadataSlot again;
  ASSERT_TRUE(store_->save(finished_info(), again).ok());
  back = read_back();
  EXPECT_EQ(back.state, RecordingState::kStopped);
  EXPECT_TRUE(back.nodes.empty());
}

TEST_F(RecordingStoreTest, StaleReservationsAndDiscardedSlotsLeaveNothing) {
  auto slot = store_->reserve_metadata(finished_info());
  ASSERT_TRUE(slot.ok());
  store_->discard(*slot);
  EXPECT_TRUE(fs::is_empty(store_->path()));
  std::ofstream(in_store(".other_20250101T000000Z_8_node.pcap.json.tmp")) << "crash leftover";
  std::ofstream(in_store("keep.json.tmp")) << "not hidden: not ours";
  EXPECT_EQ(store_->remove_stale_reservations(), 1u);
  EXPECT_TRUE(fs::exists(in_store("keep.json.tmp")));
}

}  // namespace
}  // namespace recorder::service
