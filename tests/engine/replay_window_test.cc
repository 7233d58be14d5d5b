#include "engine/replay_window.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace shoal::engine {
namespace {

using V = ReplayWindow::Verdict;

TEST(ReplayWindow, InOrderFramesAreNewOnceEach) {
  ReplayWindow w;
  constexpr uint32_t kLast = 3 * ReplayWindow::kSize;
  w.set_horizon(kLast);
  for (uint32_t s = 0; s <= kLast; ++s) ASSERT_EQ(w.check(s), V::kNew) << s;
  EXPECT_EQ(w.check(kLast), V::kDuplicate);
  EXPECT_EQ(w.check(kLast - ReplayWindow::kSize + 1), V::kDuplicate);
  EXPECT_EQ(w.check(kLast - ReplayWindow::kSize), V::kTooOld);
  EXPECT_EQ(w.check(0), V::kTooOld);
}

TEST(ReplayWindow, ReorderingInsideTheWindowIsAccepted) {
  ReplayWindow w;
  EXPECT_EQ(w.check(1000), V::kNew);
  EXPECT_EQ(w.check(998), V::kNew);
  EXPECT_EQ(w.check(999), V::kNew);
  EXPECT_EQ(w.check(998), V::kDuplicate);
  EXPECT_EQ(w.newest(), 1000u);
}

TEST(ReplayWindow, AJumpForgetsWhatFellOutOfTheWindow) {
  ReplayWindow w;
  w.set_horizon(4 * ReplayWindow::kSize);
  EXPECT_EQ(w.check(5), V::kNew);
  EXPECT_EQ(w.check(5 + 3 * ReplayWindow::kSize), V::kNew);
  // Slot of 5 was reused; 5 itself is now too old, and the sequence sharing its slot is new.
  EXPECT_EQ(w.check(5), V::kTooOld);
  EXPECT_EQ(w.check(5 + 3 * ReplayWindow::kSize - 1), V::kNew);
  EXPECT_EQ(w.check(5 + 2 * ReplayWindow::kSize + 1), V::kNew);
}

// Against a model: a sequence is new iff never seen and not older than newest - kSize + 1.
TEST(ReplayWindow, AgreesWithASetModelOnRandomTraffic) {
  std::mt19937 rng32(99);
  auto rng = [&] { return static_cast<uint32_t>(rng32()); };
  ReplayWindow w;
  std::set<uint32_t> seen;
  uint32_t newest = 0;
  bool any = false;
  uint32_t base = 0;
  uint64_t horizon = 0;
  for (int i = 0; i < 200000; ++i) {
    base += rng() % 3;  // mostly moving forward
    uint32_t s = base + (rng() % 64);
    if (rng() % 50 == 0 && base > 10000) s = base - rng() % 10000;      // old replays
    if (rng() % 5000 == 0) base += ReplayWindow::kSize + rng() % 1000;  // jumps
    if (rng() % 1000 == 0) s = 0xffffffffu - rng() % 100;               // an insider's
    if (rng() % 300 == 0 && base > horizon) {                           // the sender says
      horizon = base;
      w.set_horizon(base);
    }
    V want;
    if (s > horizon + ReplayWindow::kLead) {
      want = V::kAhead;
    } else if (any && s <= newest && newest - s >= ReplayWindow::kSize) {
      want = V::kTooOld;
    } else if (seen.count(s)) {
      want = V::kDuplicate;
    } else {
      want = V::kNew;
    }
    ASSERT_EQ(w.check(s), want) << "step " << i << " seq " << s << " newest " << newest;
    if (want == V::kNew) {
      seen.insert(s);
      if (!any || s > newest) newest = s;
      any = true;
    }
  }
}

// The insider's stall (#15): every group member can tag frames, and one tagged frame numbered
// 0xFFFFFFFF used to move the window past every genuine frame.
TEST(ReplayWindow, AFrameFarPastTheSendersHorizonDoesNotMoveTheWindow) {
  ReplayWindow w;
  w.set_horizon(1000);
  for (uint32_t s = 0; s < 100; ++s) ASSERT_EQ(w.check(s), V::kNew);
  EXPECT_EQ(w.check(0xffffffffu), V::kAhead);
  EXPECT_EQ(w.check(1000 + ReplayWindow::kLead + 1), V::kAhead);
  EXPECT_EQ(w.newest(), 99u);
  for (uint32_t s = 100; s < 1000; ++s) ASSERT_EQ(w.check(s), V::kNew) << s;
  EXPECT_EQ(w.check(500), V::kDuplicate);
}

TEST(ReplayWindow, APushToTheCeilingLeavesGenuineFramesAfterTheHorizonInside) {
  ReplayWindow w;
  w.set_horizon(50000);
  EXPECT_EQ(w.check(50000 + ReplayWindow::kLead), V::kNew);  // forged, as far as allowed
  // Frames the sender sends from its horizon on are all still new.
  for (uint32_t s = 50000; s < 50000 + 2 * ReplayWindow::kLead; ++s) {
    if (s == 50000 + ReplayWindow::kLead) continue;
    const V v = w.check(s);
    ASSERT_TRUE(v == V::kNew || v == V::kAhead) << s;
  }
}

TEST(ReplayWindow, FramesAheadAreTakenOnceTheHorizonCatchesUp) {
  ReplayWindow w;
  const uint32_t far = 10 * ReplayWindow::kSize;  // a receiver that joined late
  EXPECT_EQ(w.check(far), V::kAhead);
  EXPECT_EQ(w.check(far), V::kAhead);  // not recorded: a replay is the assembler's duplicate
  w.set_horizon(far);
  w.set_horizon(5);  // a horizon never moves back
  EXPECT_EQ(w.ceiling(), uint64_t{far} + ReplayWindow::kLead);
  EXPECT_EQ(w.check(far), V::kNew);
  EXPECT_EQ(w.check(far), V::kDuplicate);
}

}  // namespace
}  // namespace shoal::engine
