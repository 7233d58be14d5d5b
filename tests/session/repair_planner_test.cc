#include "session/repair_planner.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace shoal::session {
namespace {

std::vector<uint8_t> uniform_k(uint32_t blocks, uint8_t k) {
  return std::vector<uint8_t>(blocks, k);
}

TEST(RowState, FreshRowsNeverRepeatUntilExhausted) {
  auto ks = uniform_k(2, 250);  // 5 repair rows per block: 250..254
  RowState rows(ks, 0);
  auto a = rows.take(0, 2);
  auto b = rows.take(0, 3);
  EXPECT_EQ(a.first_esi, 250);
  EXPECT_EQ(b.first_esi, 252);
  EXPECT_EQ(b.count, 3);
  // All five rows used: the next request wraps to the first repair row.
  auto c = rows.take(0, 1);
  EXPECT_EQ(c.first_esi, 250);
  // Block 1 is independent.
  EXPECT_EQ(rows.take(1, 1).first_esi, 250);
}

TEST(RowState, ProactiveRowsAreSkipped) {
  auto ks = uniform_k(1, 64);
  RowState rows(ks, 8);
  EXPECT_EQ(rows.take(0, 4).first_esi, 72);
}

TEST(Planner, SharedLossGoesMulticastUpToTheSecondWorstReceiver) {
  auto ks = uniform_k(10, 64);
  RowState rows(ks, 0);
  std::vector<NeedRun> r1 = {{3, 1, 2}};
  std::vector<NeedRun> r2 = {{3, 1, 5}, {4, 2, 1}};
  std::vector<ReceiverNeeds> needs = {{1, r1}, {2, r2}};
  PlannerConfig cfg;
  auto plan = plan_repair(needs, rows, cfg);
  ASSERT_EQ(plan.multicast.size(), 1u);
  EXPECT_EQ(plan.multicast[0].block, 3u);
  EXPECT_EQ(plan.multicast[0].count, 2);  // what both lack, not 2 + 5
  EXPECT_EQ(plan.multicast[0].first_esi, 64);
  // Receiver 2's 3 extra symbols of block 3, and blocks 4 and 5 (lacked by it alone), go to it by
  // unicast, with rows no multicast range of the block uses.
  ASSERT_EQ(plan.unicast.size(), 3u);
  for (const auto& u : plan.unicast) EXPECT_EQ(u.receiver, 2u);
  EXPECT_EQ(plan.unicast[0].range.block, 3u);
  EXPECT_EQ(plan.unicast[0].range.count, 3);
  EXPECT_EQ(plan.unicast[0].range.first_esi, 66);
  EXPECT_EQ(plan.multicast_symbols, 2u);
  EXPECT_EQ(plan.unicast_symbols, 5u);
}

TEST(Planner, StragglerOverBudgetIsServedByMulticast) {
  auto ks = uniform_k(100, 64);
  RowState rows(ks, 0);
  std::vector<NeedRun> heavy = {{0, 100, 10}};  // 1000 symbols, over a budget of 256
  std::vector<ReceiverNeeds> needs = {{7, heavy}};
  auto plan = plan_repair(needs, rows, PlannerConfig{});
  EXPECT_TRUE(plan.unicast.empty());
  EXPECT_EQ(plan.multicast.size(), 100u);
  EXPECT_EQ(plan.multicast_symbols, 1000u);
}

// Runs longer than the planner's short-run limit are swept by their boundaries rather than added
// block by block; mixed with short runs, the decisions are the same as block by block.
TEST(Planner, LongAndShortRunsMixed) {
  auto ks = uniform_k(200, 64);
  RowState rows(ks, 0);
  std::vector<NeedRun> a = {{0, 100, 3}};   // blocks 0..99
  std::vector<NeedRun> b = {{50, 100, 5}};  // blocks 50..149
  std::vector<NeedRun> c = {{60, 2, 4}};    // short: blocks 60, 61
  std::vector<ReceiverNeeds> needs = {{1, a}, {2, b}, {3, c}};
  auto plan = plan_repair(needs, rows, PlannerConfig{});
  // Receiver 2's unicast share (2 x 48 + 1 x 2 + 5 x 50 = 348) is over the budget of 256: its
  // blocks 50..149 are multicast whole (5 rows); receiver 1 alone lacks 0..49: 3 rows each by
  // unicast (150 <= 256).
  ASSERT_EQ(plan.multicast.size(), 100u);
  EXPECT_EQ(plan.multicast.front().block, 50u);
  EXPECT_EQ(plan.multicast.back().block, 149u);
  for (const auto& m : plan.multicast) EXPECT_EQ(m.count, 5);
  EXPECT_EQ(plan.multicast_symbols, 500u);
  ASSERT_EQ(plan.unicast.size(), 50u);
  for (uint32_t i = 0; i < 50; ++i) {
    EXPECT_EQ(plan.unicast[i].receiver, 1u);
    EXPECT_EQ(plan.unicast[i].range.block, i);
    EXPECT_EQ(plan.unicast[i].range.count, 3);
  }
  EXPECT_EQ(plan.unicast_symbols, 150u);
}

TEST(Planner, IgnoresOutOfRangeAndZeroRuns) {
  auto ks = uniform_k(4, 16);
  RowState rows(ks, 0);
  std::vector<NeedRun> bad = {{4, 10, 3}, {2, 1, 0}, {3, 0xFFFFFFFF, 2}};
  std::vector<ReceiverNeeds> needs = {{1, bad}, {2, bad}};
  auto plan = plan_repair(needs, rows, PlannerConfig{});
  ASSERT_EQ(plan.multicast.size(), 1u);  // only block 3, clipped to the object
  EXPECT_EQ(plan.multicast[0].block, 3u);
  EXPECT_EQ(plan.multicast[0].count, 2);
}

TEST(Planner, MissingIsCappedAtTheBlocksK) {
  std::vector<uint8_t> ks = {64, 5};  // short last block
  RowState rows(ks, 0);
  std::vector<NeedRun> whole = {{0, 2, 255}};
  std::vector<ReceiverNeeds> needs = {{1, whole}, {2, whole}};
  auto plan = plan_repair(needs, rows, PlannerConfig{});
  ASSERT_EQ(plan.multicast.size(), 2u);
  EXPECT_EQ(plan.multicast[0].count, 64);
  EXPECT_EQ(plan.multicast[1].count, 5);
}

// Property: every receiver is offered, for every block it lacks, at least as many fresh rows as it
// lacks, either by multicast or by its own unicast, and no two ranges of one block share a row.
TEST(Planner, EveryNeedIsCoveredByDistinctFreshRows) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 200; ++iter) {
    uint32_t nblocks = static_cast<uint32_t>(1 + rng() % 50);
    auto ks = uniform_k(nblocks, static_cast<uint8_t>(1 + rng() % 120));
    RowState rows(ks, static_cast<uint8_t>(rng() % 4));
    unsigned nrecv = static_cast<unsigned>(1 + rng() % 6);
    std::vector<std::vector<NeedRun>> runs(nrecv);
    std::vector<ReceiverNeeds> needs;
    for (unsigned r = 0; r < nrecv; ++r) {
      for (uint32_t b = 0; b < nblocks; ++b) {
        if (rng() % 3 == 0) runs[r].push_back({b, 1, static_cast<uint8_t>(1 + rng() % 8)});
      }
      needs.push_back({r, runs[r]});
    }
    PlannerConfig cfg;
    cfg.unicast_budget_symbols = rng() % 40;
    auto plan = plan_repair(needs, rows, cfg);
    std::map<uint32_t, unsigned> mcast;
    std::map<std::pair<uint32_t, uint32_t>, unsigned> ucast;
    std::map<uint32_t, std::set<unsigned>> used;
    auto record = [&](const RepairRange& rr) {
      for (unsigned i = 0; i < rr.count; ++i) {
        EXPECT_TRUE(used[rr.block].insert(rr.first_esi + i).second) << "row reused in one plan";
        EXPECT_GE(rr.first_esi + i, ks[rr.block]);
        EXPECT_LE(rr.first_esi + i, 254u);
      }
    };
    for (const auto& m : plan.multicast) {
      mcast[m.block] += m.count;
      record(m);
    }
    for (const auto& u : plan.unicast) {
      ucast[{u.receiver, u.range.block}] += u.range.count;
      record(u.range);
    }
    for (unsigned r = 0; r < nrecv; ++r) {
      for (const auto& run : runs[r]) {
        unsigned need = std::min<unsigned>(run.missing, ks[run.first_block]);
        unsigned got = mcast[run.first_block] + ucast[{r, run.first_block}];
        EXPECT_GE(got, need) << "receiver " << r << " block " << run.first_block;
      }
    }
  }
}

}  // namespace
}  // namespace shoal::session
