#include "session/pass_schedule.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace shoal::session {
namespace {

TEST(PassSchedule, FullPassCoversSourceAndProactiveRows) {
  std::vector<uint8_t> ks = {4, 4, 2};
  RowState rows(ks, 1);
  auto ranges = full_pass_ranges(rows, 1);
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0].count, 5);
  EXPECT_EQ(ranges[2].count, 3);
  EXPECT_EQ(ranges[2].first_esi, 0);
}

TEST(PassSchedule, InterleavesAcrossBlocks) {
  std::vector<RepairRange> window = {{0, 0, 3}, {1, 0, 1}, {2, 10, 2}};
  std::vector<SymbolRef> out;
  interleave(window, out);
  ASSERT_EQ(out.size(), 6u);
  // Round robin: consecutive symbols come from different blocks while more than one block has some
  // left.
  EXPECT_EQ(out[0].block, 0u);
  EXPECT_EQ(out[1].block, 1u);
  EXPECT_EQ(out[2].block, 2u);
  EXPECT_EQ(out[2].esi, 10);
  EXPECT_EQ(out[3].block, 0u);
  EXPECT_EQ(out[4].block, 2u);
  EXPECT_EQ(out[4].esi, 11);
  EXPECT_EQ(out[5].block, 0u);
  EXPECT_EQ(out[5].esi, 2);
  // Each (block, esi) exactly once.
  std::set<std::pair<uint32_t, unsigned>> seen;
  for (auto s : out) EXPECT_TRUE(seen.insert({s.block, s.esi}).second);
}

}  // namespace
}  // namespace shoal::session
