#include "engine/replay_window.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace shoal::engine {
namespace {

using V = ReplayWindow::Verdict;

TEST(ReplayWindow, InOrderFramesAreNewOnceEach) {
  ReplayWindow w;
  for (uint32_t s = 0; s < 20000; ++s) ASSERT_EQ(w.check(s), V::kNew) << s;
  EXPECT_EQ(w.check(19999), V::kDuplicate);
  EXPECT_EQ(w.check(19999 - ReplayWindow::kSize + 1), V::kDuplicate);
  EXPECT_EQ(w.check(19999 - ReplayWindow::kSize), V::kTooOld);
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
  for (int i = 0; i < 200000; ++i) {
    base += rng() % 3;  // mostly moving forward
    uint32_t s = base + (rng() % 64);
    if (rng() % 50 == 0 && base > 10000) s = base - rng() % 10000;      // old replays
    if (rng() % 5000 == 0) base += ReplayWindow::kSize + rng() % 1000;  // jumps
    V want;
    if (any && s <= newest && newest - s >= ReplayWindow::kSize) {
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

}  // namespace
}  // namespace shoal::engine
