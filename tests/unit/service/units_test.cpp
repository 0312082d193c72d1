#include "service/units.h"

#include <gtest/gtest.h>

namespace recorder::service {
namespace {
using namespace std::chrono_literals;

TEST(Units, ParsesTimesAsRfc3339OrUnixSeconds) {
  EXPECT_EQ(*parse_time("1700000000"), 1700000000000000000ull);
  EXPECT_EQ(*parse_time("1700000000.25"), 1700000000250000000ull);
  EXPECT_EQ(*parse_time("2023-11-14T22:13:20Z"), 1700000000000000000ull);
  EXPECT_EQ(*parse_time("2023-11-14T22:13:20.000000001Z"), 1700000000000000001ull);
  EXPECT_EQ(*parse_time("2023-11-14T23:13:20.5+01:00"), 1700000000500000000ull);
  EXPECT_EQ(*parse_time("2023-11-14t21:13:20-01:00"), 1700000000000000000ull);
  for (const char* bad :
       {"", "yesterday", "1.2.3", ".5", "2023-11-14T22:13:20", "2023-13-01T00:00:00Z",
        "2023-11-14T22:13:20Zx", "1969-12-31T23:59:59Z", "123456789012345"}) {
    auto t = parse_time(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(t.error().message().find("RFC 3339"), std::string::npos) << t.error().message();
  }
}

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

TEST(Units, SizesAreExactUpToTheLargest64BitValue) {
  EXPECT_EQ(*parse_size("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(*parse_size("18014398509481985"), (1ull << 54) + 1);  // beyond a double's precision
  // Above INT64_MAX: once converted through a signed 64-bit rounding, and wrapped.
  EXPECT_EQ(*parse_size("10000000000000000000"), 10000000000000000000ull);
  EXPECT_EQ(*parse_size("10000000TB"), 10000000000000000000ull);
  EXPECT_EQ(*parse_size("16777215.999999999999TiB"), UINT64_MAX);
}

TEST(Units, RefusesSizesThatOverflowInsteadOfWrapping) {
  for (const char* big :
       {"18446744073709551616", "10000000000000000000000", "20000000TB", "16777216TiB",
        "18446744073709551616.5KiB",
        "1000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"}) {
    auto s = parse_size(big);
    ASSERT_FALSE(s.ok()) << big << " gave " << *s;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message().find("too large"), std::string::npos) << s.error().message();
  }
}

TEST(Units, RefusesDurationsThatOverflowInsteadOfWrapping) {
  EXPECT_EQ(parse_duration("9223372036854775807ns")->count(), INT64_MAX);
  EXPECT_EQ(*parse_duration("2562047h"), std::chrono::hours(2562047));
  for (const char* big :
       {"9223372036854775808ns", "2562048h", "2562047h48m", "99999999999999999999s",
        "18446744073709551616ns", "5124094h-",
        "1000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000s"}) {
    auto d = parse_duration(big);
    ASSERT_FALSE(d.ok()) << big << " gave " << d->count();
    EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_NE(parse_duration("2562048h").error().message().find("too long"), std::string::npos);
  EXPECT_EQ(*parse_duration("1\xc2\xb5s"), 1us);
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
