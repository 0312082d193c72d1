// Crash recovery: partial files cut in the middle of a record are repaired and renamed.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "sink/recovery.h"
#include "sink/sink.h"
#include "sink_test_util.h"

namespace recorder::sink {
namespace {

using test::finished_file;
using test::make_frame;
using test::packet_of;
using test::TempDir;
using test::write_file;

TEST(Recovery, TruncatedPcapIsCutToLastRecordAndRenamed) {
  TempDir dir;
  const auto bytes = finished_file(dir, "r_20260101T000000Z_1_n.pcap", FileFormat::kPcap, 10);
  ASSERT_EQ(bytes.size(), 24u + 10 * 216);
  // A crash after 7 whole records and half of the 8th.
  const size_t cut = 24 + 7 * 216 + 100;
  write_file(dir / ".r_20260101T000000Z_1_n.pcap.partial", bytes, cut);
  auto r = recover_partial_files(dir.path());
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  const RecoveredFile& f = (*r)[0];
  EXPECT_FALSE(f.corrupt) << f.reason;
  EXPECT_EQ(f.final_path, dir / "r_20260101T000000Z_1_n.pcap");
  EXPECT_EQ(f.packets_kept, 7u);
  EXPECT_EQ(f.bytes_cut, 100u);
  EXPECT_EQ(f.bytes_kept, 24u + 7 * 216);
  EXPECT_FALSE(std::filesystem::exists(f.partial_path));
  const auto got = test::read_pcap(f.final_path).records;
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got[6].data, make_frame(200, 6));
  test::expect_wireshark_tools_accept(f.final_path);
}

TEST(Recovery, TruncatedPcapngIsRepaired) {
  TempDir dir;
  const auto bytes = finished_file(dir, "r.pcapng", FileFormat::kPcapng, 10);
  // SHB 52 + IDB 40 + EPBs of 28+200+12+4 = 244; cut inside the 5th EPB.
  const size_t cut = 52 + 40 + 4 * 244 + 10;
  write_file(dir / ".r.pcapng.partial", bytes, cut);
  // And a zero-length partial file (a crash right after create): unreadable -> .corrupt.
  write_file(dir / ".empty.pcap.partial", bytes, 0);
  // Unrelated files are left alone.
  write_file(dir / "other.partial", bytes, 10);
  write_file(dir / ".hidden", bytes, 10);
  auto r = recover_partial_files(dir.path());
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  for (const auto& f : *r) {
    if (f.partial_path.filename() == ".r.pcapng.partial") {
      EXPECT_FALSE(f.corrupt);
      EXPECT_EQ(f.packets_kept, 4u);
      EXPECT_EQ(f.bytes_cut, 10u);
      EXPECT_EQ(test::read_pcap(dir / "r.pcapng").records.size(), 4u);
      test::expect_wireshark_tools_accept(dir / "r.pcapng");
    } else {
      EXPECT_TRUE(f.corrupt);
      EXPECT_EQ(f.final_path, dir / "empty.pcap.corrupt");
      EXPECT_FALSE(f.reason.empty());
      EXPECT_TRUE(std::filesystem::exists(dir / "empty.pcap.corrupt"));
    }
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "other.partial"));
  EXPECT_TRUE(std::filesystem::exists(dir / ".hidden"));
}

// A real crash: a child process records (io_uring, O_DIRECT, several writes in flight) and is
// killed with SIGKILL mid-recording. Whatever the kernel had written, recovery must turn the
// partial file into a valid capture whose packets are exactly the first ones appended.
TEST(Recovery, FileOfKilledRecorderIsRepaired) {
  for (FileFormat format : {FileFormat::kPcap, FileFormat::kPcapng}) {
    TempDir dir;
    const std::string name = format == FileFormat::kPcap ? "k.pcap" : "k.pcapng";
    const auto partial = dir / ("." + name + ".partial");
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto pool = WriterPool::create({});
      if (!pool.ok()) _exit(2);
      SinkOptions o;
      o.path = dir / name;
      o.format = format;
      o.queue_bytes = 4u << 20;
      auto sink = Sink::open(**pool, o);
      if (!sink.ok()) _exit(3);
      for (uint32_t i = 0;; ++i) {
        const auto f = make_frame(64 + i % 1400, i);
        while ((*sink)->try_append(packet_of(f, i)) == AppendResult::kQueueFull) {
        }
        if (i % 1000 == 999) usleep(1000);
      }
    }
    // Kill it once a few MiB are on disk, i.e. in the middle of the recording.
    const bool grew = test::wait_until([&] {
      std::error_code ec;
      return std::filesystem::file_size(partial, ec) > (6u << 20) && !ec;
    });
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(grew) << "the child never wrote 6 MiB";
    ASSERT_TRUE(WIFSIGNALED(status));
    auto r = recover_partial_files(dir.path());
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(r->size(), 1u);
    const RecoveredFile& f = (*r)[0];
    ASSERT_FALSE(f.corrupt) << f.reason;
    EXPECT_GT(f.packets_kept, 1000u);
    const auto got = test::read_pcap(dir / name).records;
    ASSERT_EQ(got.size(), f.packets_kept);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].data, make_frame(64 + i % 1400, static_cast<uint32_t>(i))) << i;
    }
    test::expect_wireshark_tools_accept(dir / name);
  }
}

TEST(Recovery, GarbageIsMarkedCorruptAndMissingDirIsAnError) {
  TempDir dir;
  const std::vector<uint8_t> junk(100, 0x42);
  write_file(dir / ".j.pcap.partial", junk, junk.size());
  auto r = recover_partial_files(dir.path());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE((*r)[0].corrupt);
  EXPECT_NE((*r)[0].reason.find("magic"), std::string::npos) << (*r)[0].reason;
  EXPECT_TRUE(std::filesystem::exists(dir / "j.pcap.corrupt"));
  EXPECT_FALSE(recover_partial_files(dir / "nope").ok());
  // A partial file whose final name is taken is left where it is, not renamed over the file.
  write_file(dir / ".taken.pcap.partial", junk, junk.size());
  write_file(dir / "taken.pcap.corrupt", junk, 3);
  auto again = recover_partial_files(dir.path());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_TRUE((*again)[0].corrupt);
  EXPECT_EQ((*again)[0].final_path, dir / ".taken.pcap.partial");
  EXPECT_EQ(std::filesystem::file_size(dir / "taken.pcap.corrupt"), 3u);
}

// Names that look like partial files but are links or special files planted by someone who
// can write into the directory: refused, reported, left alone, nothing outside opened or cut.
TEST(Recovery, PlantedLinksAndSpecialFilesAreRefusedAndNothingOutsideIsTouched) {
  TempDir dir;
  TempDir outside;
  const std::vector<uint8_t> secret(5000, 0x5a);  // would be cut to nothing if repaired
  write_file(outside / "via-symlink", secret, secret.size());
  write_file(outside / "via-hardlink", secret, secret.size());
  std::filesystem::create_symlink(outside / "via-symlink", dir / ".s.pcap.partial");
  ASSERT_EQ(::link((outside / "via-hardlink").c_str(), (dir / ".h.pcap.partial").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir / ".f.pcap.partial").c_str(), 0600), 0);  // must not block recovery
  std::filesystem::create_directory(dir / ".d.pcap.partial");

  auto r = recover_partial_files(dir.path());
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 4u);
  for (const RecoveredFile& f : *r) {
    EXPECT_TRUE(f.refused) << f.partial_path;
    EXPECT_FALSE(f.reason.empty());
    EXPECT_EQ(f.final_path, f.partial_path);
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::symlink_status(f.partial_path)));
  }
  EXPECT_EQ(test::read_file(outside / "via-symlink"), secret);
  EXPECT_EQ(test::read_file(outside / "via-hardlink"), secret);
  for (const char* name : {"s.pcap", "h.pcap", "f.pcap", "d.pcap", "s.pcap.corrupt"}) {
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir / name))) << name;
  }
}

}  // namespace
}  // namespace recorder::sink
