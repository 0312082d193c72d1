#include "service/convert.h"

#include <gtest/gtest.h>

#include "service/record_service.h"
#include "service/ring_flags.h"

namespace recorder::service {
namespace {

constexpr StopReason kAllReasons[] = {
    StopReason::kNone,          StopReason::kPacketLimit, StopReason::kByteLimit,
    StopReason::kTimeLimit,     StopReason::kRequested,   StopReason::kClientGone,
    StopReason::kShutdown,      StopReason::kDiskFull,    StopReason::kWriteError,
    StopReason::kInterfaceGone, StopReason::kSourceEnded};

TEST(Convert, StopReasonsRoundTripAndAreDistinct) {
  std::set<int> seen;
  for (StopReason r : kAllReasons) {
    pb::StopReason p = to_proto(r);
    EXPECT_EQ(from_proto(p), r) << to_string(r);
    EXPECT_TRUE(seen.insert(p).second) << "two reasons map to " << pb::StopReason_Name(p);
  }
  EXPECT_EQ(to_proto(StopReason::kShutdown), pb::STOP_REASON_DAEMON_SHUTDOWN);
  EXPECT_EQ(to_proto(StopReason::kDiskFull), pb::STOP_REASON_DISK_FULL);
  EXPECT_EQ(to_proto(StopReason::kClientGone), pb::STOP_REASON_CLIENT_GONE);
}

TEST(Convert, ErrorCodesMapToGrpcCodes) {
  EXPECT_EQ(to_grpc_code(ErrorCode::kInvalidArgument), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(to_grpc_code(ErrorCode::kNotFound), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(to_grpc_code(ErrorCode::kAlreadyExists), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(to_grpc_code(ErrorCode::kResourceExhausted), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(to_grpc_code(ErrorCode::kFailedPrecondition), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(to_grpc_code(ErrorCode::kUnavailable), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(to_grpc_code(ErrorCode::kInternal), grpc::StatusCode::INTERNAL);
  auto status = to_grpc_status(Error(ErrorCode::kNotFound, "recording 7: no such recording"));
  EXPECT_EQ(status.error_message(), "recording 7: no such recording");
}

TEST(Convert, RecordStreamEndStatusFollowsStopReason) {
  for (StopReason r : kAllReasons) {
    auto status = record_end_status(r, "ENOSPC");
    if (r == StopReason::kDiskFull) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_NE(status.error_message().find("disk full"), std::string::npos);
    } else if (r == StopReason::kWriteError) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
    } else {
      EXPECT_TRUE(status.ok()) << to_string(r);
    }
  }
}

TEST(Convert, StatisticsCarryTheLossBreakdown) {
  RecordingStats stats;
  stats.packets_captured = 10;
  stats.bytes_captured = 1000;
  stats.packets_lost_kernel = 1;
  stats.bytes_lost_kernel = 60;
  stats.packets_lost_queue = 2;
  stats.bytes_lost_queue = 120;
  stats.packets_lost_write = 3;
  stats.bytes_lost_write = 180;
  pb::RecordingStatistics out;
  to_proto(stats, &out);
  EXPECT_EQ(out.packets_captured(), 10u);
  EXPECT_EQ(out.bytes_captured(), 1000u);
  EXPECT_EQ(out.packets_lost(), 6u);
  EXPECT_EQ(out.bytes_lost(), 360u);
  EXPECT_EQ(out.loss().kernel_packets(), 1u);
  EXPECT_EQ(out.loss().queue_bytes(), 120u);
  EXPECT_EQ(out.loss().write_packets(), 3u);
}

TEST(Convert, FiltersRoundTripThroughTheProto) {
  auto filter = parse_filter("10.0.0.0/8 0 fd00::1 443 TCP");
  // Mixed families are invalid; use a consistent one.
  filter = parse_filter("10.0.0.0/8 1234 192.168.1.10 443 TCP");
  ASSERT_TRUE(filter.ok()) << filter.error().message();
  pb::Filter out;
  to_proto_filter(*filter, &out);
  auto back = make_filter(out.source_cidr(), out.source_port(), out.destination_cidr(),
                          out.destination_port(), static_cast<uint32_t>(out.protocol()));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, *filter);
  Filter any;  // every field "any": empty CIDRs on the wire
  pb::Filter any_out;
  to_proto_filter(any, &any_out);
  EXPECT_TRUE(any_out.source_cidr().empty());
  EXPECT_TRUE(any_out.destination_cidr().empty());
}

}  // namespace
}  // namespace recorder::service
