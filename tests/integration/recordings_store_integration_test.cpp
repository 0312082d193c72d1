// The Recordings service over many finished recordings, with a real recorderd (--replay): List
// answers in bounded pages that recorderctl follows, and retention (flags or config keys)
// deletes the oldest finished recordings at start-up.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "daemon_fixture.h"
#include "pcap_file.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;

// Puts `count` finished recordings (ids 1..count, one second apart, without metadata, as a
// crash or a copy would leave them) into `storage`; returns their file names.
std::vector<std::string> make_finished_recordings(const fs::path& storage, int count) {
  fs::create_directories(storage);
  const fs::path sample = storage.parent_path() / "sample.pcap";
  write_pcap(sample.string(), {PcapRecord{1700000000000000000ull, 0, std::vector<uint8_t>(60)}});
  std::ifstream in(sample, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> names;
  for (int id = 1; id <= count; ++id) {
    const int s = id % 60, m = id / 60 % 60, h = id / 3600 % 24, d = 1 + id / 86400;
    char name[96];
    std::snprintf(name, sizeof(name), "old_202501%02dT%02d%02d%02dZ_%d_n.pcap", d, h, m, s, id);
    std::ofstream(storage / name, std::ios::binary) << bytes;
    names.push_back(name);
  }
  return names;
}

fs::path write_replay_input(const fs::path& dir) {
  const fs::path input = dir / "input.pcap";
  write_pcap(input.string(), {PcapRecord{1700000000000000000ull, 0, std::vector<uint8_t>(60)}});
  return input;
}

TEST(RecordingsStoreIntegration, HundredThousandRecordingsListInBoundedPages) {
  constexpr int kCount = 100000;
  TempDir tmp("rec-list");
  make_finished_recordings(tmp.path() / "storage", kCount);
  Daemon d({"--replay", write_replay_input(tmp.path()).string(), "--replay-loop"},
           tmp.path() / "storage");

  // The first page without a size: the default, bounded.
  pb::ListResponse first;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.recordings().List(&ctx, pb::ListRequest(), &first).ok());
  }
  EXPECT_EQ(first.recordings_size(), 100);
  EXPECT_FALSE(first.next_page_token().empty());

  // Following the pages: every recording once, by increasing id, no page above 1000 or 1 MiB.
  pb::ListRequest request;
  request.set_page_size(5000);  // more than the largest page: taken as 1000
  uint64_t seen = 0, last_id = 0;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    pb::ListResponse page;
    auto status = d.recordings().List(&ctx, request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_LE(page.recordings_size(), 1000);
    EXPECT_LE(page.ByteSizeLong(), 1u << 20);
    for (const auto& info : page.recordings()) {
      EXPECT_GT(info.id(), last_id);
      last_id = info.id();
      ++seen;
    }
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 1000);
  EXPECT_EQ(seen, static_cast<uint64_t>(kCount));
  EXPECT_EQ(pages, kCount / 1000);

  // A token List never gave is refused, naming the field.
  {
    grpc::ClientContext ctx;
    pb::ListRequest bad;
    bad.set_page_token("12x");
    pb::ListResponse page;
    auto status = d.recordings().List(&ctx, bad, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("page_token"), std::string::npos);
  }

  // recorderctl follows the pages: a header and one line per recording.
  auto out = run_command({RECORDERCTL_PATH, "--server", d.server(), "list"}, tmp.path(), 120s);
  ASSERT_EQ(out.exit_code, 0) << out.output.substr(0, 2000);
  EXPECT_EQ(std::count(out.output.begin(), out.output.end(), '\n'), kCount + 1);
}

TEST(RecordingsStoreIntegration, RetentionFromTheConfigFileDeletesTheOldestAtStartUp) {
  TempDir tmp("rec-retain");
  const auto names = make_finished_recordings(tmp.path() / "storage", 5);
  const fs::path config = tmp.path() / "recorderd.json";
  std::ofstream(config) << R"({"retain-max-count": 2, "retain-max-age": "0"})";
  Daemon d({"--replay", write_replay_input(tmp.path()).string(), "--replay-loop", "--config",
            config.string()},
           tmp.path() / "storage");

  std::vector<uint64_t> ids;
  for (int i = 0; i < 500; ++i) {
    grpc::ClientContext ctx;
    pb::ListResponse list;
    ASSERT_TRUE(d.recordings().List(&ctx, pb::ListRequest(), &list).ok());
    ids.clear();
    for (const auto& info : list.recordings()) ids.push_back(info.id());
    if (ids.size() == 2) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(ids, (std::vector<uint64_t>{4, 5}));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(fs::exists(d.storage() / names[i])) << names[i];
  EXPECT_TRUE(fs::exists(d.storage() / names[4]));
  EXPECT_NE(d.log().find("retention: deleted recording 1"), std::string::npos) << d.log();

  // A bad value is refused at start-up, naming the flag.
  std::ofstream(config) << R"({"retain-max-bytes": "lots"})";
  auto bad = run_command(
      {RECORDERD_PATH, "--config", config.string(), "--replay",
       (tmp.path() / "input.pcap").string(), "--storage-path", (tmp.path() / "other").string(),
       "--socket", (tmp.path() / "other.sock").string()},
      tmp.path());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("retain-max-bytes"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace recorder::test
