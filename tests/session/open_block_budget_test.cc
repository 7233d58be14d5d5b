#include "session/open_block_budget.h"

#include <gtest/gtest.h>

namespace shoal::session {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(OpenBlockBudget, FillsMaxMemoryWithSlots) {
  auto n = open_block_budget(uint64_t{1} << 30, 64, 1408, 1000);  // 176 KiB slots
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(*n, (uint64_t{1} << 30) / (2 * 64 * 1408));
  EXPECT_LE(*n * open_block_bytes(64, 1408), uint64_t{1} << 30);
}

TEST(OpenBlockBudget, TheFloorThatFitsIsTaken) {
  auto n = open_block_budget(64 * open_block_bytes(64, 1408), 64, 1408, 1000);
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(*n, kMinOpenBlocks);
}

// Issue #15 item 7: the initramfs passes --max-memory 64M; k = 254 with 8960-byte symbols needs
// 64 slots of 4.3 MiB. The limit is never exceeded: the session is refused, naming the fix.
TEST(OpenBlockBudget, AFloorAboveMaxMemoryIsRefusedNamingTheFix) {
  auto n = open_block_budget(64 * kMiB, 254, 8960, 1000);
  ASSERT_FALSE(n.ok()) << "would hold " << *n << " slots of " << open_block_bytes(254, 8960);
  EXPECT_NE(n.error().find("--max-memory 64.0 MiB is too small"), std::string::npos) << n.error();
  EXPECT_NE(n.error().find("pass --max-memory 278M or more"), std::string::npos) << n.error();
  EXPECT_NE(n.error().find("smaller --fec K or --symbol-size"), std::string::npos) << n.error();
}

TEST(OpenBlockBudget, AnObjectOfFewBlocksNeedsOnlyThoseSlots) {
  auto n = open_block_budget(64 * kMiB, 254, 8960, 3);  // 3 slots of 4.3 MiB fit in 64 MiB
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(*n, 64 * kMiB / open_block_bytes(254, 8960));
  auto tight = open_block_budget(2 * open_block_bytes(254, 8960), 254, 8960, 3);
  ASSERT_FALSE(tight.ok());
  EXPECT_NE(tight.error().find("up to 3 incomplete blocks"), std::string::npos) << tight.error();
}

}  // namespace
}  // namespace shoal::session
