#include "probe/probe_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace shoal::probe {
namespace {

StepStats feed(const std::vector<uint32_t>& seqs) {
  StepStats s;
  for (uint32_t q : seqs) s.add(q, 1000 + q, 5000 + q);
  return s;
}

TEST(StepStats, InOrderWithoutLoss) {
  StepStats s = feed({0, 1, 2, 3, 4});
  EXPECT_EQ(s.received(), 5u);
  EXPECT_EQ(s.reordered(), 0u);
  EXPECT_EQ(s.duplicated(), 0u);
  EXPECT_EQ(StepStats::lost(5, s.received()), 0u);
}

TEST(StepStats, LossIsSentMinusDistinctReceived) {
  StepStats s = feed({0, 2, 5, 9});  // the sender sent 0..9
  EXPECT_EQ(s.received(), 4u);
  EXPECT_EQ(StepStats::lost(10, s.received()), 6u);
  EXPECT_DOUBLE_EQ(StepStats::loss_ratio(10, s.received()), 0.6);
  EXPECT_EQ(StepStats::lost(3, 4), 0u);  // never negative
  EXPECT_DOUBLE_EQ(StepStats::loss_ratio(0, 0), 0.0);
}

TEST(StepStats, ReorderedCountsFramesArrivingAfterALaterOne) {
  EXPECT_EQ(feed({0, 2, 1, 3}).reordered(), 1u);
  EXPECT_EQ(feed({0, 3, 1, 2}).reordered(), 2u);  // both 1 and 2 arrive after 3
  EXPECT_EQ(feed({3, 2, 1, 0}).reordered(), 3u);
}

TEST(StepStats, DuplicatesAreCountedOnceAndNotAsReordered) {
  StepStats s = feed({0, 1, 1, 2, 0, 2});
  EXPECT_EQ(s.received(), 3u);
  EXPECT_EQ(s.duplicated(), 3u);
  EXPECT_EQ(s.reordered(), 0u);
}

TEST(StepStats, DelaySpreadIgnoresTheClockOffset) {
  StepStats s;
  // Receiver clock far behind the sender's: every delay is negative; the spread is still 30.
  s.add(0, 1'000'000'000'000, 100);
  s.add(1, 1'000'000'000'000, 130);
  s.add(2, 1'000'000'000'010, 120);
  EXPECT_TRUE(s.has_delay());
  EXPECT_EQ(s.delay_max_ns() - s.delay_min_ns(), 30);
  EXPECT_EQ(s.delay_spread_ns(), 30u);
  EXPECT_LT(s.delay_max_ns(), 0);
  StepStats none;
  EXPECT_FALSE(none.has_delay());
  EXPECT_EQ(none.delay_spread_ns(), 0u);
}

TEST(StepStats, SequencesBeyondTheLimitAreSetAside) {
  StepStats s(100);
  s.add(99, 0, 0);
  s.add(100, 0, 0);
  s.add(0xFFFFFFFF, 0, 0);
  EXPECT_EQ(s.received(), 1u);
  EXPECT_EQ(s.out_of_range(), 2u);
}

// Random arrival orders with duplicates and losses, checked against the definitions computed
// directly in the test.
TEST(StepStats, MatchesTheDefinitionsOnRandomArrivals) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    const auto sent = static_cast<uint32_t>(1 + rng() % 3000);
    std::vector<uint32_t> arrivals;
    for (uint32_t q = 0; q < sent; ++q) {
      if (rng() % 10 == 0) continue;  // lost
      arrivals.push_back(q);
      if (rng() % 20 == 0) arrivals.push_back(q);  // duplicated
    }
    // Local reordering: swap some neighbours.
    for (size_t i = 1; i < arrivals.size(); ++i)
      if (rng() % 15 == 0) std::swap(arrivals[i - 1], arrivals[i]);
    std::set<uint32_t> seen;
    uint64_t dups = 0, reord = 0;
    int64_t highest = -1;
    for (uint32_t q : arrivals) {
      if (!seen.insert(q).second) {
        ++dups;
        continue;
      }
      if (int64_t(q) < highest) ++reord;
      highest = std::max<int64_t>(highest, q);
    }
    StepStats s = feed(arrivals);
    EXPECT_EQ(s.received(), seen.size());
    EXPECT_EQ(s.duplicated(), dups);
    EXPECT_EQ(s.reordered(), reord);
    EXPECT_EQ(StepStats::lost(sent, s.received()), sent - seen.size());
  }
}

}  // namespace
}  // namespace shoal::probe
