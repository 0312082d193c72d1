// Ring retention decisions: by bytes (the chunk being written counts, never goes), by age, by
// the free-space floor; oldest first.
#include "ring/retention.h"

#include <gtest/gtest.h>

namespace recorder::ring {
namespace {
using namespace std::chrono_literals;

constexpr uint64_t kSecond = 1000000000ull;

std::vector<ClosedChunk> chunks(size_t n, uint64_t bytes) {
  std::vector<ClosedChunk> out;
  for (size_t i = 0; i < n; ++i) out.push_back({i + 1, bytes, (i + 1) * 100 * kSecond});
  return out;
}

std::vector<uint64_t> seqs(const std::vector<ExpiredChunk>& expired) {
  std::vector<uint64_t> out;
  for (const auto& e : expired) out.push_back(e.seq);
  return out;
}

TEST(RingRetention, OverMaxBytesDeletesTheOldestUntilTheCurrentChunkFits) {
  RetentionBudget budget;
  budget.max_bytes = 1000;
  // 5 closed chunks of 300 + 200 being written = 1700: three must go (1700 - 900 = 800).
  auto expired = select_expired_chunks(chunks(5, 300), 200, UINT64_MAX, budget, 0);
  EXPECT_EQ(seqs(expired), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(expired[0].reason, "over max_bytes");
  // Within the budget: nothing.
  EXPECT_TRUE(select_expired_chunks(chunks(3, 300), 100, UINT64_MAX, budget, 0).empty());
  // The chunk being written alone is over the budget: every closed chunk goes, it stays.
  EXPECT_EQ(select_expired_chunks(chunks(2, 300), 5000, UINT64_MAX, budget, 0).size(), 2u);
}

TEST(RingRetention, OlderThanMaxAgeDeletesByTheNewestPacketOfAChunk) {
  RetentionBudget budget;
  budget.max_age = 250s;
  // Chunks end at 100 s, 200 s, ... 500 s; now 600 s: those ending before 350 s go.
  auto expired = select_expired_chunks(chunks(5, 10), 0, UINT64_MAX, budget, 600 * kSecond);
  EXPECT_EQ(seqs(expired), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(expired[0].reason, "older than max_age");
}

TEST(RingRetention, BelowTheFreeSpaceFloorDeletesUntilItIsFreedAgain) {
  RetentionBudget budget;
  budget.free_floor = 1000;
  auto expired = select_expired_chunks(chunks(5, 300), 0, 500, budget, 0);
  EXPECT_EQ(seqs(expired), (std::vector<uint64_t>{1, 2}));  // 500 + 600 >= 1000
  EXPECT_EQ(expired[0].reason, "free disk below the floor");
  EXPECT_TRUE(select_expired_chunks(chunks(5, 300), 0, 1000, budget, 0).empty());
}

TEST(RingRetention, NoBudgetHitKeepsEverything) {
  RetentionBudget budget;
  budget.max_bytes = 1u << 30;
  budget.max_age = 1h;
  EXPECT_TRUE(select_expired_chunks(chunks(5, 300), 0, 1u << 30, budget, 600 * kSecond).empty());
  EXPECT_TRUE(select_expired_chunks({}, 5000, 0, budget, 0).empty());
}

}  // namespace
}  // namespace recorder::ring
