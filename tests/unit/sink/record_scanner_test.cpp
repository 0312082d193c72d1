// Record scanner: a scan resumed from an earlier one of a growing file agrees with one scan of
// the whole file, and a hole of zeros (a later write of a file being written that completed
// before an earlier one) ends the valid records instead of passing for empty ones.
#include "sink/record_scanner.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/fd.h"
#include "sink/pcap_encoder.h"
#include "sink_test_util.h"

namespace recorder::sink {
namespace {

using test::finished_file;
using test::TempDir;
using test::write_file;

Fd open_read(const std::filesystem::path& p) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(fd.valid()) << p;
  return fd;
}

class RecordScannerTest : public ::testing::TestWithParam<FileFormat> {};

TEST_P(RecordScannerTest, AScanResumedOnAGrownFileAgreesWithOneScan) {
  TempDir dir("scan");
  const auto bytes = finished_file(dir, "f", GetParam(), 40);
  const auto path = dir / "f";
  // The file as a writer leaves it halfway (cut mid-record), then whole.
  write_file(path, bytes, bytes.size() / 2);
  const Fd half = open_read(path);
  auto first = scan_records(half.get(), bytes.size() / 2);
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_GT(first->packets, 0u);
  ASSERT_LT(first->packets, 40u);
  write_file(path, bytes, bytes.size());
  const Fd whole = open_read(path);
  auto resumed = scan_records(whole.get(), bytes.size(), &*first);
  auto once = scan_records(whole.get(), bytes.size());
  ASSERT_TRUE(resumed.ok() && once.ok());
  EXPECT_EQ(once->packets, 40u);
  EXPECT_EQ(resumed->packets, once->packets);
  EXPECT_EQ(resumed->valid_end, once->valid_end);
  EXPECT_EQ(resumed->record_bytes, once->record_bytes);
  EXPECT_EQ(resumed->synthesized_records, once->synthesized_records);
}

TEST_P(RecordScannerTest, AHoleOfZerosEndsTheValidRecords) {
  TempDir dir("scan");
  auto bytes = finished_file(dir, "f", GetParam(), 10);
  // The third record's end, found by scanning ever longer prefixes; zeros from there on (a hole).
  write_file(dir / "f", bytes, bytes.size());
  const Fd whole = open_read(dir / "f");
  uint64_t third_end = 0;
  for (uint64_t n = 1; n <= bytes.size() && third_end == 0; ++n) {
    auto s = scan_records(whole.get(), n);
    if (s.ok() && s->packets == 3) third_end = s->valid_end;
  }
  ASSERT_GT(third_end, 0u);
  std::fill(
      bytes.begin() + static_cast<ptrdiff_t>(third_end),
      bytes.begin() + static_cast<ptrdiff_t>(std::min<uint64_t>(third_end + 1000, bytes.size())),
      0);
  write_file(dir / "f", bytes, bytes.size());
  auto holed = scan_records(open_read(dir / "f").get(), bytes.size());
  ASSERT_TRUE(holed.ok());
  EXPECT_EQ(holed->packets, 3u);
  EXPECT_EQ(holed->valid_end, third_end);
}

INSTANTIATE_TEST_SUITE_P(Formats, RecordScannerTest,
                         ::testing::Values(FileFormat::kPcap, FileFormat::kPcapng),
                         [](const auto& param_info) {
                           return param_info.param == FileFormat::kPcap ? "Pcap" : "Pcapng";
                         });

}  // namespace
}  // namespace recorder::sink
