#include "service/units.h"

#include <gtest/gtest.h>

namespace recorder::service {
namespace {
using namespace std::chrono_literals;

TEST(Units, ParsesDurations) {
  EXPECT_EQ(*parse_duration("0"), 0ns);
  EXPECT_EQ(*parse_duration("30s"), 30s);
  EXPECT_EQ(*parse_duration("5m"), 5min);
  EXPECT_EQ(*parse_duration("1h"), 1h);
  EXPECT_EQ(*parse_duration("1h30m"), 90min);
  EXPECT_EQ(*parse_duration("250ms"), 250ms);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("10us"), 10us);
  EXPECT_EQ(*parse_duration("7ns"), 7ns);
}

TEST(Units, RejectsBadDurations) {
  for (const char* bad : {"", "30", "s", "5x", "-5s", "1h-", "abc", "1.2.3s"}) {
    auto d = parse_duration(bad);
    EXPECT_FALSE(d.ok()) << bad;
    if (!d.ok()) {
      EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(d.error().message().find("duration"), std::string::npos);
    }
  }
}

TEST(Units, ParsesSizes) {
  EXPECT_EQ(*parse_size("0"), 0u);
  EXPECT_EQ(*parse_size("512"), 512u);
  EXPECT_EQ(*parse_size("512B"), 512u);
  EXPECT_EQ(*parse_size("10KB"), 10000u);
  EXPECT_EQ(*parse_size("10MB"), 10000000u);
  EXPECT_EQ(*parse_size("10mb"), 10000000u);
  EXPECT_EQ(*parse_size("1GiB"), 1073741824u);
  EXPECT_EQ(*parse_size("1.5KiB"), 1536u);
  EXPECT_EQ(*parse_size("2G"), 2000000000u);
  EXPECT_EQ(*parse_size("64MiB"), 64u << 20);
  EXPECT_EQ(*parse_size("1TiB"), 1ull << 40);
}

TEST(Units, RejectsBadSizes) {
  for (const char* bad : {"", "MB", "10XB", "-1", "1.5", "10 M B", "1e3"}) {
    auto s = parse_size(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(Units, FormatsForHumans) {
  EXPECT_EQ(format_size(300), "300 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_duration(0ns), "0s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(90min), "1h30m");
}

}  // namespace
}  // namespace recorder::service
