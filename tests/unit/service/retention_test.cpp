// Retention decisions: oldest first, each limit alone and together, nothing when within limits.
#include "service/retention.h"

#include <gtest/gtest.h>

namespace recorder::service {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

const Clock::time_point kNow = Clock::time_point(1'700'000'000s);

std::vector<uint64_t> ids(const std::vector<Expired>& expired) {
  std::vector<uint64_t> out;
  for (const auto& e : expired) out.push_back(e.id);
  return out;
}

// Five recordings, 100 bytes each, stopped 50, 40, 30, 20 and 10 minutes ago (given shuffled).
std::vector<FinishedRecording> five() {
  return {{3, kNow - 30min, 100},
          {1, kNow - 50min, 100},
          {5, kNow - 10min, 100},
          {2, kNow - 40min, 100},
          {4, kNow - 20min, 100}};
}

TEST(Retention, NoPolicyKeepsEverything) {
  RetentionPolicy none;
  EXPECT_FALSE(none.enabled());
  EXPECT_TRUE(select_expired(five(), none, kNow).empty());
}

TEST(Retention, MaxAgeDeletesWhatStoppedLongerAgo) {
  RetentionPolicy p;
  p.max_age = 25min;
  auto expired = select_expired(five(), p, kNow);
  EXPECT_EQ(ids(expired), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_NE(expired[0].reason.find("--retain-max-age"), std::string::npos);
}

TEST(Retention, MaxCountDeletesTheOldestFirst) {
  RetentionPolicy p;
  p.max_count = 2;
  auto expired = select_expired(five(), p, kNow);
  EXPECT_EQ(ids(expired), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_NE(expired[0].reason.find("--retain-max-count"), std::string::npos);
}

TEST(Retention, MaxBytesDeletesUntilTheRestFits) {
  RetentionPolicy p;
  p.max_bytes = 250;
  auto expired = select_expired(five(), p, kNow);
  EXPECT_EQ(ids(expired), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_NE(expired[0].reason.find("--retain-max-bytes"), std::string::npos);
  p.max_bytes = 500;
  EXPECT_TRUE(select_expired(five(), p, kNow).empty());
}

TEST(Retention, LimitsTogetherTakeTheStrictest) {
  RetentionPolicy p;
  p.max_age = 45min;  // 1
  p.max_count = 4;    // 1
  p.max_bytes = 200;  // 1, 2, 3
  EXPECT_EQ(ids(select_expired(five(), p, kNow)), (std::vector<uint64_t>{1, 2, 3}));
}

TEST(Retention, EqualStopTimesGoByIdAndEmptyInputIsFine) {
  RetentionPolicy p;
  p.max_count = 1;
  EXPECT_EQ(ids(select_expired({{9, kNow, 1}, {7, kNow, 1}, {8, kNow, 1}}, p, kNow)),
            (std::vector<uint64_t>{7, 8}));
  EXPECT_TRUE(select_expired({}, p, kNow).empty());
}

}  // namespace
}  // namespace recorder::service
