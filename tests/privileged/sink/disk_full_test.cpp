// A recording on a full disk: a 1 MiB tmpfs mounted for the test. The sink must fail with
// ENOSPC, stop taking packets, and close to a valid file with exact counts.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "privileged.h"
#include "sink/sink.h"
#include "sink_test_util.h"
#include "tmpfs.h"

namespace recorder::sink {
namespace {

using test::make_frame;
using test::packet_of;

class DiskFullTest : public ::testing::TestWithParam<test::BackendAndFormat> {};

TEST_P(DiskFullTest, SinkFailsWithEnospcAndClosesToValidFile) {
  RECORDER_REQUIRE_ROOT();
  const auto [io_uring, format] = GetParam();
  recorder::test::SmallTmpfs fs("1m");
  ASSERT_TRUE(fs.mounted()) << fs.path() << ": " << fs.error();
  WriterPool::Options po;
  po.use_io_uring = io_uring;
  auto pool = WriterPool::create(po);
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  const auto path = fs.path() / (format == FileFormat::kPcap ? "full.pcap" : "full.pcapng");
  SinkOptions so;
  so.path = path;
  so.format = format;
  so.queue_bytes = 256u << 10;
  auto sink = Sink::open(**pool, so);
  ASSERT_TRUE(sink.ok()) << sink.error().message();
  uint64_t appended = 0, appended_bytes = 0;
  AppendResult a = AppendResult::kAppended;
  for (uint32_t i = 0; i < 100000 && a != AppendResult::kFailed; ++i) {
    const auto f = make_frame(60 + i % 1440, i);
    do {
      a = (*sink)->try_append(packet_of(f, i, 1, Direction::kEgress));
    } while (a == AppendResult::kQueueFull);
    if (a == AppendResult::kAppended) {
      ++appended;
      appended_bytes += f.size();
    }
  }
  ASSERT_EQ(a, AppendResult::kFailed) << "the 1 MiB tmpfs never filled up";
  EXPECT_EQ((*sink)->failure_errno(), ENOSPC);
  auto r = (*sink)->close(3);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(r->write_error.has_value());
  EXPECT_EQ(r->write_error->sys_errno(), ENOSPC) << r->write_error->message();
  EXPECT_EQ(r->write_error->code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(r->packets_written + r->packets_lost_write, appended);
  EXPECT_EQ(r->bytes_written + r->bytes_lost_write, appended_bytes);
  EXPECT_GT(r->packets_written, 100u);
  EXPECT_EQ(std::filesystem::file_size(path), r->file_bytes);
  EXPECT_FALSE(std::filesystem::exists(fs.path() / ("." + path.filename().string() + ".partial")));
  const auto got = test::read_pcap(path).records;
  ASSERT_EQ(got.size(), r->packets_written);
  uint64_t bytes = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].data, make_frame(60 + i % 1440, static_cast<uint32_t>(i))) << i;
    bytes += got[i].data.size();
  }
  EXPECT_EQ(bytes, r->bytes_written);
  test::expect_wireshark_tools_accept(path);
}

INSTANTIATE_TEST_SUITE_P(Backends, DiskFullTest, test::backends_and_formats(),
                         test::backend_and_format_name);

}  // namespace
}  // namespace recorder::sink
