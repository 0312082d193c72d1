#include "service/validation.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace recorder::service {
namespace {

pb::StartRecording valid_start() {
  pb::StartRecording start;
  auto* f = start.add_include();
  f->set_source_cidr("10.0.0.0/8");
  f->set_destination_cidr("10.1.2.3");
  f->set_destination_port(443);
  f->set_protocol(pb::PROTOCOL_TCP);
  return start;
}

void expect_error(const pb::StartRecording& start, ErrorCode code, const std::string& field,
                  const ServiceLimits& limits = {}) {
  auto spec = validate_start(start, limits);
  ASSERT_FALSE(spec.ok()) << "accepted a bad request; expected an error naming " << field;
  EXPECT_EQ(spec.error().code(), code) << spec.error().message();
  EXPECT_NE(spec.error().message().find(field), std::string::npos)
      << "message \"" << spec.error().message() << "\" does not name " << field;
}

TEST(Validation, AcceptsHubbleRequestWithDefaults) {
  auto spec = validate_start(valid_start(), ServiceLimits{});
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->file_prefix, "hubble");  // Hubble's default for an empty prefix
  EXPECT_EQ(spec->recording.snap_length, ServiceLimits{}.max_snap_length);  // 0 = whole packet
  ASSERT_EQ(spec->recording.include.size(), 1u);
  EXPECT_EQ(spec->recording.include[0].destination_port, 443);
  EXPECT_EQ(spec->recording.include[0].destination.prefix_length, 32);  // bare IP = /32
  EXPECT_EQ(spec->recording.stop.packets, 0u);
  EXPECT_EQ(spec->recording.stop.duration.count(), 0);
  EXPECT_EQ(spec->format, sink::FileFormat::kPcap);
}

TEST(Validation, CarriesStopConditionsSnapLengthAndFormat) {
  auto start = valid_start();
  start.set_max_capture_length(128);
  start.mutable_stop_condition()->set_packets_captured_count(10);
  start.mutable_stop_condition()->set_bytes_captured_count(5000);
  start.mutable_stop_condition()->mutable_time_elapsed()->set_seconds(2);
  start.mutable_stop_condition()->mutable_time_elapsed()->set_nanos(500000000);
  start.set_format(pb::FILE_FORMAT_PCAPNG);
  start.mutable_filesink()->set_file_prefix("incident-42_db");
  auto spec = validate_start(start, ServiceLimits{});
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->recording.snap_length, 128u);
  EXPECT_EQ(spec->recording.stop.packets, 10u);
  EXPECT_EQ(spec->recording.stop.bytes, 5000u);
  EXPECT_EQ(spec->recording.stop.duration, std::chrono::milliseconds(2500));
  EXPECT_EQ(spec->format, sink::FileFormat::kPcapng);
  EXPECT_EQ(spec->file_prefix, "incident-42_db");
}

TEST(Validation, AcceptsIcmpAndAnyProtocols) {
  auto start = valid_start();
  start.mutable_include(0)->set_protocol(pb::PROTOCOL_ICMP);
  start.mutable_include(0)->set_destination_port(0);
  EXPECT_TRUE(validate_start(start, ServiceLimits{}).ok());
  auto* v6 = start.add_include();
  v6->set_source_cidr("fd00::/64");
  v6->set_protocol(pb::PROTOCOL_ICMPV6);
  EXPECT_TRUE(validate_start(start, ServiceLimits{}).ok());
}

TEST(Validation, RejectsBadPrefixes) {
  for (const char* bad : {"Hubble", "1abc", "_x", "a b", "a/b", "a.b", "ab\xc3\xa9",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 41 */, "../etc"}) {
    auto start = valid_start();
    start.mutable_filesink()->set_file_prefix(bad);
    SCOPED_TRACE(bad);
    expect_error(start, ErrorCode::kInvalidArgument, "filesink.file_prefix");
  }
  EXPECT_TRUE(validate_file_prefix("a").ok());
  EXPECT_TRUE(validate_file_prefix(std::string(40, 'a')).ok());
}

TEST(Validation, RequiresAnIncludeFilter) {
  pb::StartRecording start;
  expect_error(start, ErrorCode::kInvalidArgument, "include");
}

TEST(Validation, RejectsBadFiltersNamingIndexAndField) {
  {
    auto start = valid_start();
    start.mutable_include(0)->set_source_port(65536);
    expect_error(start, ErrorCode::kInvalidArgument, "include[0]");
    expect_error(start, ErrorCode::kInvalidArgument, "source_port");
  }
  {
    auto start = valid_start();
    auto* second = start.add_include();
    second->set_destination_port(70000);
    expect_error(start, ErrorCode::kInvalidArgument, "include[1]");
    expect_error(start, ErrorCode::kInvalidArgument, "destination_port");
  }
  {
    auto start = valid_start();
    start.mutable_include(0)->set_source_cidr("10.0.0.0/33");
    expect_error(start, ErrorCode::kInvalidArgument, "source_cidr");
  }
  {
    auto start = valid_start();
    start.mutable_include(0)->set_source_cidr("not-an-ip");
    expect_error(start, ErrorCode::kInvalidArgument, "source_cidr");
  }
  {
    auto start = valid_start();  // IPv4 source, IPv6 destination
    start.mutable_include(0)->set_destination_cidr("fd00::1");
    expect_error(start, ErrorCode::kInvalidArgument, "include[0]");
  }
  {
    auto start = valid_start();
    start.mutable_include(0)->set_protocol(static_cast<pb::Protocol>(99));
    expect_error(start, ErrorCode::kInvalidArgument, "protocol");
  }
}

TEST(Validation, MasksCidrsWithHostBitsAsHubbleDidAndNotesIt) {
  // `hubble record "10.95.0.1/24 0 10.95.0.2/32 9000 UDP"`
  auto start = valid_start();
  start.mutable_include(0)->set_source_cidr("10.95.0.1/24");
  start.mutable_include(0)->set_destination_cidr("10.95.0.2/32");
  auto spec = validate_start(start, ServiceLimits{});
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(to_string(spec->recording.include[0].source), "10.95.0.0/24");
  ASSERT_EQ(spec->notes.size(), 1u);
  EXPECT_EQ(spec->notes[0],
            "include[0].source_cidr: CIDR \"10.95.0.1/24\": host bits set below the /24 prefix, "
            "using 10.95.0.0/24");
  EXPECT_TRUE(validate_start(valid_start(), ServiceLimits{})->notes.empty());
}

// What a hostile or broken client sends: every string is bounded before it is parsed, the error
// names the field and quotes only an excerpt (a 1 MiB echo made gRPC clients fail with "received
// initial metadata size exceeds limit" instead of seeing the reason).
TEST(Validation, RefusesOversizedStringsWithAShortErrorNamingTheField) {
  const std::string mib(1 << 20, 'a');
  struct Case {
    const char* field;
    std::function<void(pb::StartRecording&)> set;
  };
  const Case cases[] = {
      {"filesink.file_prefix",
       [&](pb::StartRecording& s) { s.mutable_filesink()->set_file_prefix(mib); }},
      {"include[0].source_cidr",
       [&](pb::StartRecording& s) { s.mutable_include(0)->set_source_cidr("10.0.0.0/8" + mib); }},
      {"include[0].destination_cidr",
       [&](pb::StartRecording& s) { s.mutable_include(0)->set_destination_cidr(mib); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    auto start = valid_start();
    c.set(start);
    auto spec = validate_start(start, ServiceLimits{});
    ASSERT_FALSE(spec.ok());
    EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(spec.error().message().find(c.field), 0u) << spec.error().message();
    EXPECT_NE(spec.error().message().find("longer than the limit"), std::string::npos)
        << spec.error().message();
    EXPECT_LT(spec.error().message().size(), 300u) << spec.error().message();
  }
}

TEST(Validation, RefusesNulBytesAndInvalidUtf8) {
  using namespace std::string_literals;
  {
    auto start = valid_start();
    start.mutable_include(0)->set_source_cidr("10.0.0.0\0junk/8"s);  // once read as 10.0.0.0/8
    expect_error(start, ErrorCode::kInvalidArgument, "include[0].source_cidr");
    expect_error(start, ErrorCode::kInvalidArgument, "NUL byte");
  }
  {
    auto start = valid_start();
    start.mutable_include(0)->set_destination_cidr("10.1.2.3\0"s);
    expect_error(start, ErrorCode::kInvalidArgument, "include[0].destination_cidr");
  }
  {
    auto start = valid_start();
    start.mutable_filesink()->set_file_prefix("abc\0def"s);
    expect_error(start, ErrorCode::kInvalidArgument, "NUL byte");
  }
  {
    auto start = valid_start();
    start.mutable_filesink()->set_file_prefix("ab\xff");
    expect_error(start, ErrorCode::kInvalidArgument, "not valid UTF-8");
  }
  {
    auto start = valid_start();
    start.mutable_include(0)->set_source_cidr("10.0.0.0\xc0/8");
    expect_error(start, ErrorCode::kInvalidArgument, "not valid UTF-8");
  }
}

TEST(Validation, EnforcesFilterAndSnapLengthLimits) {
  ServiceLimits limits;
  limits.max_filters = 2;
  limits.max_snap_length = 1500;
  auto start = valid_start();
  start.add_include()->set_protocol(pb::PROTOCOL_UDP);
  EXPECT_TRUE(validate_start(start, limits).ok());
  start.add_include()->set_protocol(pb::PROTOCOL_SCTP);
  expect_error(start, ErrorCode::kResourceExhausted, "include", limits);

  auto snap = valid_start();
  snap.set_max_capture_length(1501);
  expect_error(snap, ErrorCode::kInvalidArgument, "max_capture_length", limits);
  snap.set_max_capture_length(1500);
  EXPECT_TRUE(validate_start(snap, limits).ok());
}

TEST(Validation, RejectsBadDurationsAndFormats) {
  auto start = valid_start();
  start.mutable_stop_condition()->mutable_time_elapsed()->set_seconds(-1);
  expect_error(start, ErrorCode::kInvalidArgument, "stop_condition.time_elapsed");
  start.mutable_stop_condition()->mutable_time_elapsed()->set_seconds(1);
  start.mutable_stop_condition()->mutable_time_elapsed()->set_nanos(1000000000);
  expect_error(start, ErrorCode::kInvalidArgument, "stop_condition.time_elapsed");

  auto fmt = valid_start();
  fmt.set_format(static_cast<pb::FileFormat>(7));
  expect_error(fmt, ErrorCode::kInvalidArgument, "format");
}

}  // namespace
}  // namespace recorder::service
