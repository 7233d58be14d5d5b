// AutoRate: what `--rate auto[:FILE]` and `--rate max[:CEILING]` start from and are bound by.
#include "probe/probe_autorate.h"

#include <gtest/gtest.h>

namespace shoal::probe {
namespace {

constexpr uint32_t kFrame = 32 + 1408 + 16;

TEST(AutoRate, MaxStartsAtOneGigabitWithoutACeiling) {
  auto a = AutoRate::make("max", kFrame, 64, 8);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->start_bps(), 1'000'000'000u);
  EXPECT_GT(a->config().ceiling_bps, 100'000'000'000u) << "no cap expected";
  EXPECT_EQ(a->config().known_knee_bps, 0u) << "a slow start finds the receivers' limit";
  EXPECT_NE(a->describe().find("rate max"), std::string::npos) << a->describe();
  EXPECT_TRUE(is_rate_auto("max"));
  EXPECT_TRUE(is_rate_auto("max:5G"));
  EXPECT_FALSE(is_rate_auto("maximum"));
}

TEST(AutoRate, MaxWithACeilingNeverStartsOrGoesAboveIt) {
  auto a = AutoRate::make("max:300M", kFrame, 64, 8);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->config().ceiling_bps, 300'000'000u);
  EXPECT_EQ(a->start_bps(), 300'000'000u);
  auto b = AutoRate::make("max:5G", kFrame, 64, 8);
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b->config().ceiling_bps, 5'000'000'000u);
  EXPECT_EQ(b->start_bps(), 1'000'000'000u);
}

TEST(AutoRate, AMalformedCeilingIsNamed) {
  auto a = AutoRate::make("max:fast", kFrame, 64, 8);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().find("max:CEILING"), std::string::npos) << a.error();
  auto low = AutoRate::make("max:500k", kFrame, 64, 8);
  ASSERT_FALSE(low.ok()) << "below the controller's floor: it could not keep under it";
  EXPECT_NE(low.error().find("at least 1M"), std::string::npos) << low.error();
  auto b = AutoRate::make("maximal", kFrame, 64, 8);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().find("max:RATE"), std::string::npos) << b.error();
}

TEST(AutoRate, AutoStillStartsSlowAtOneHundredMegabit) {
  auto a = AutoRate::make("auto", kFrame, 64, 8);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->start_bps(), 100'000'000u);
  EXPECT_NE(a->describe().find("rate auto"), std::string::npos) << a->describe();
}

TEST(AutoRate, TheSummaryCarriesTheRateHeld) {
  auto a = AutoRate::make("max:2G", kFrame, 64, 8);
  ASSERT_TRUE(a.ok()) << a.error();
  const auto j = a->summary();
  ASSERT_TRUE(j.contains("held_bps"));
  EXPECT_EQ(j["held_bps"].get<uint64_t>(), 1'000'000'000u) << "no report yet: the start rate";
  EXPECT_EQ(j["source"].get<std::string>(), "max, at most 2.00 Gbit/s");
}

// A receiver whose disk is behind drops frames for want of memory: they are reported as not
// received, so the controller slows down for its disk as for its network.
TEST(FeedbackCounter, FramesDroppedForWantOfMemoryAreReportedAsNotReceived) {
  FeedbackCounter c;
  auto first = c.poll(FeedbackCounter::kIntervalNs, 1000, 1200, 3, 0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->data_frames, 1000u);
  EXPECT_FALSE(c.poll(FeedbackCounter::kIntervalNs + 1, 1100, 1300, 3, 50)) << "too soon";
  auto second = c.poll(2 * FeedbackCounter::kIntervalNs, 2000, 2200, 3, 300);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->data_frames, 1700u);
  EXPECT_EQ(second->highest_sequence, 2200u);
}

}  // namespace
}  // namespace shoal::probe
