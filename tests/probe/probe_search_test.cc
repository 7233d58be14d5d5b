#include "probe/probe_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace shoal::probe {
namespace {

// A network that passes every rate up to `cap` and a sender that offers at most `sender_max`.
struct Net {
  uint64_t cap;
  uint64_t sender_max = UINT64_MAX;
};

KneeSearch run(const SearchConfig& cfg, const Net& net) {
  KneeSearch ks(cfg);
  unsigned guard = 0;
  while (auto rate = ks.next()) {
    const uint64_t offered = std::min(*rate, net.sender_max);
    ks.record(offered <= net.cap, offered);
    if (++guard > 100) break;
  }
  return ks;
}

TEST(KneeSearch, BracketsTheCapWithinThePrecision) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    SearchConfig cfg;  // defaults: 50M .. 10G, x2, 3%
    const uint64_t cap = 50'000'000 + rng() % 5'000'000'000;
    KneeSearch ks = run(cfg, {cap});
    ASSERT_EQ(ks.phase(), SearchPhase::kDone);
    EXPECT_EQ(ks.limit(), SearchLimit::kNetwork) << cap;
    EXPECT_LE(ks.max_ok_bps(), cap);
    EXPECT_GT(ks.first_bad_bps(), cap);
    EXPECT_LE(double(ks.first_bad_bps()), double(ks.max_ok_bps()) * 1.03 + 2) << cap;
    EXPECT_LE(ks.steps(), cfg.max_steps);
  }
}

TEST(KneeSearch, GoesDownWhenTheFirstRateFails) {
  SearchConfig cfg;
  cfg.from_bps = 400'000'000;
  KneeSearch ks = run(cfg, {60'000'000});
  EXPECT_EQ(ks.limit(), SearchLimit::kNetwork);
  EXPECT_LE(ks.max_ok_bps(), 60'000'000u);
  EXPECT_GE(double(ks.max_ok_bps()), 60e6 / 1.031);
}

TEST(KneeSearch, NothingPassesEvenFarDown) {
  SearchConfig cfg;
  cfg.max_down = 3;
  KneeSearch ks = run(cfg, {1000});
  EXPECT_EQ(ks.limit(), SearchLimit::kNoPass);
  EXPECT_EQ(ks.max_ok_bps(), 0u);
  EXPECT_EQ(ks.steps(), 4u);  // from, then three steps down
}

TEST(KneeSearch, CapAboveTheRangeEndsAtTheTop) {
  SearchConfig cfg;
  cfg.to_bps = 1'000'000'000;
  KneeSearch ks = run(cfg, {5'000'000'000});
  EXPECT_EQ(ks.limit(), SearchLimit::kRange);
  EXPECT_EQ(ks.max_ok_bps(), 1'000'000'000u);
  EXPECT_EQ(ks.first_bad_bps(), 0u);
}

TEST(KneeSearch, ASlowSenderIsNamedAsTheLimit) {
  SearchConfig cfg;
  KneeSearch ks = run(cfg, {2'000'000'000, 450'000'000});
  EXPECT_EQ(ks.limit(), SearchLimit::kSender);
  EXPECT_EQ(ks.max_ok_bps(), 450'000'000u);  // what it really offered, not the target
}

// Passes at 50, 100, 200 Mbit/s, then a failure at 400: bisecting between 200 and 400.
KneeSearch bracketed_200_400(const SearchConfig& cfg) {
  KneeSearch ks(cfg);
  for (uint64_t r : {50'000'000, 100'000'000, 200'000'000}) {
    EXPECT_EQ(ks.next(), r);
    ks.record(true, r);
  }
  ks.record(false, 400'000'000);
  EXPECT_EQ(ks.phase(), SearchPhase::kBisect);
  return ks;
}

TEST(KneeSearch, AShortSenderFailingAboveAPassCountsAtItsTarget) {
  // Seen in CI on a loaded host: 200M passed, 400M failed; a step aimed at 209M offered only 193M
  // on average and lost frames. The catch-up bursts are at the target: the failure belongs at
  // 209M, and the 200M pass stands.
  SearchConfig cfg;
  KneeSearch ks = bracketed_200_400(cfg);
  const uint64_t target = *ks.next();
  ks.record(false, target * 93 / 100);
  EXPECT_EQ(ks.max_ok_bps(), 200'000'000u);
  EXPECT_EQ(ks.first_bad_bps(), target);
  EXPECT_EQ(ks.phase(), SearchPhase::kBisect);
  EXPECT_GT(*ks.next(), 200'000'000u);
  EXPECT_LT(*ks.next(), target);
}

TEST(KneeSearch, AShortSenderPassingWhileBisectingKeepsBisecting) {
  SearchConfig cfg;
  KneeSearch ks = bracketed_200_400(cfg);
  const uint64_t target = *ks.next();  // ~283M
  const uint64_t short_rate = target * 90 / 100;
  ks.record(true, short_rate);  // above 200M: the bracket narrows to (short_rate, 400M)
  EXPECT_EQ(ks.max_ok_bps(), short_rate);
  EXPECT_EQ(ks.phase(), SearchPhase::kBisect);
  // A short pass that does not raise the passing rate cannot narrow the bracket: the sender is
  // the limit of what can be measured.
  const uint64_t next = *ks.next();
  ks.record(true, short_rate - 1);
  EXPECT_EQ(ks.phase(), SearchPhase::kDone);
  EXPECT_EQ(ks.limit(), SearchLimit::kSender);
  EXPECT_EQ(ks.max_ok_bps(), short_rate);
  EXPECT_GT(next, short_rate);
}

TEST(KneeSearch, StopsAtTheStepLimit) {
  SearchConfig cfg;
  cfg.max_steps = 5;
  cfg.precision = 0.001;
  KneeSearch ks = run(cfg, {250'000'000});
  EXPECT_EQ(ks.limit(), SearchLimit::kSteps);
  EXPECT_EQ(ks.steps(), 5u);
  EXPECT_LE(ks.max_ok_bps(), 250'000'000u);
  EXPECT_GT(ks.first_bad_bps(), 250'000'000u);
}

}  // namespace
}  // namespace shoal::probe
