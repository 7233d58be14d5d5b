#include "probe/rate_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace shoal::probe {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;

// A simulated session: the sender sends at the controller's rate (up to sender_max); a policer
// at `cap` drops the excess before the frames are copied to the receivers (every receiver loses
// the same share); receiver i also loses extra_loss[i] of what passes. Every receiver reports
// its cumulative counters each 100 ms, at its own phase, as the real receivers do.
struct Sim {
  RateControllerConfig cfg;
  double cap = 1e18;
  double sender_max = 1e18;
  std::vector<double> extra_loss;
  uint64_t tick_ns = 10 * kMs;

  struct Rx {
    double frames = 0;  // received (fractional: a rate over a tick)
    double sent = 0;    // sequence advance seen
  };
  std::vector<Rx> rx;
  uint64_t now = 0;
  double sent_frames = 0, lost_at_policer = 0;

  explicit Sim(RateControllerConfig c, size_t receivers) : cfg(c), extra_loss(receivers, 0) {
    rx.resize(receivers);
  }

  // Runs until `until_ns`, calling observe(controller, now) every tick.
  template <class F>
  void run(RateController& ctl, uint64_t until_ns, F observe) {
    const double frame_bits = double(cfg.frame_bits);
    for (; now < until_ns; now += tick_ns) {
      const double offered = std::min(double(ctl.rate_bps()), sender_max);
      const double frames = offered * double(tick_ns) / 1e9 / frame_bits;
      const double pass = std::min(offered, cap) / offered;
      sent_frames += frames;
      lost_at_policer += frames * (1 - pass);
      for (size_t i = 0; i < rx.size(); ++i) {
        rx[i].sent += frames;
        rx[i].frames += frames * pass * (1 - extra_loss[i]);
        // Each receiver reports every 100 ms, receiver i at phase 10 ms * i.
        if ((now / tick_ns) % 10 == i % 10) {
          ctl.on_feedback(uint32_t(i), uint64_t(rx[i].frames), uint32_t(uint64_t(rx[i].sent)), now);
        }
      }
      observe(ctl, now);
    }
  }
};

RateControllerConfig base() {
  RateControllerConfig c;
  c.start_bps = 100'000'000;
  c.ceiling_bps = 10'000'000'000;
  return c;
}

TEST(RateController, SlowStartFindsAPolicerAndSettlesJustBelowIt) {
  const double cap = 300e6;
  Sim sim(base(), 3);
  sim.cap = cap;
  RateController ctl(sim.cfg);
  sim.run(ctl, 10 * kSec, [](const RateController&, uint64_t) {});
  EXPECT_FALSE(ctl.slow_start());
  EXPECT_NEAR(double(ctl.knee_bps()), cap, cap * 0.02);  // delivered = policer rate

  // From now on: no oscillation. The rate stays within [0.85, 1.03] x cap, averages above
  // 0.93 x cap, and goes over the cap at most once per two knee probes.
  const uint64_t decreases_before = ctl.stats().decreases;
  const double lost_before = sim.lost_at_policer, sent_before = sim.sent_frames;
  double lo = 1e18, hi = 0, sum = 0;
  uint64_t n = 0;
  sim.run(ctl, 70 * kSec, [&](const RateController& c, uint64_t) {
    lo = std::min(lo, double(c.rate_bps()));
    hi = std::max(hi, double(c.rate_bps()));
    sum += double(c.rate_bps());
    ++n;
  });
  EXPECT_GE(lo, 0.85 * cap);
  EXPECT_LE(hi, 1.03 * cap);
  EXPECT_GE(sum / double(n), 0.93 * cap);
  const uint64_t decreases = ctl.stats().decreases - decreases_before;
  EXPECT_LE(decreases, 60 * kSec / (2 * sim.cfg.knee_probe_ns) + 1);
  // What the policer dropped in steady state is well below the controller's loss threshold.
  EXPECT_LT((sim.lost_at_policer - lost_before) / (sim.sent_frames - sent_before),
            sim.cfg.loss_threshold / 2);
}

TEST(RateController, OneSlowReceiverDoesNotHoldTheOthersBack) {
  Sim sim(base(), 3);
  sim.extra_loss = {0.0, 0.3, 0.0};  // receiver 1 loses 30% whatever the rate
  RateController ctl(sim.cfg);
  sim.run(ctl, 5 * kSec, [](const RateController&, uint64_t) {});
  EXPECT_EQ(ctl.stats().decreases, 0u);
  EXPECT_EQ(ctl.rate_bps(), sim.cfg.ceiling_bps);
}

TEST(RateController, LossAtTwoReceiversBacksOff) {
  Sim sim(base(), 3);
  sim.extra_loss = {0.05, 0.05, 0.0};
  RateController ctl(sim.cfg);
  sim.run(ctl, 2 * kSec, [](const RateController&, uint64_t) {});
  EXPECT_GT(ctl.stats().decreases, 0u);
  EXPECT_LT(ctl.rate_bps(), sim.cfg.start_bps);
}

TEST(RateController, LossAtTheOnlyReceiverBacksOff) {
  Sim sim(base(), 1);
  sim.extra_loss = {0.05};
  RateController ctl(sim.cfg);
  sim.run(ctl, 2 * kSec, [](const RateController&, uint64_t) {});
  EXPECT_GT(ctl.stats().decreases, 0u);
  EXPECT_LT(ctl.rate_bps(), sim.cfg.start_bps);
}

TEST(RateController, StaysWithinFloorAndCeiling) {
  RateControllerConfig cfg = base();
  cfg.floor_bps = 20'000'000;
  cfg.ceiling_bps = 150'000'000;
  {
    Sim sim(cfg, 2);
    sim.extra_loss = {0.9, 0.9};  // hopeless
    RateController ctl(cfg);
    uint64_t lowest = UINT64_MAX;
    sim.run(ctl, 20 * kSec,
            [&](const RateController& c, uint64_t) { lowest = std::min(lowest, c.rate_bps()); });
    EXPECT_EQ(lowest, cfg.floor_bps);
    EXPECT_EQ(ctl.rate_bps(), cfg.floor_bps);
  }
  {
    Sim sim(cfg, 2);
    RateController ctl(cfg);
    uint64_t highest = 0;
    sim.run(ctl, 20 * kSec,
            [&](const RateController& c, uint64_t) { highest = std::max(highest, c.rate_bps()); });
    EXPECT_EQ(highest, cfg.ceiling_bps);
  }
}

TEST(RateController, AKnownKneeStartsSteadyAndNeverPassesTheCeiling) {
  RateControllerConfig cfg = base();
  cfg.known_knee_bps = 200'000'000;
  cfg.ceiling_bps = 200'000'000;
  cfg.start_bps = 180'000'000;
  Sim sim(cfg, 2);
  RateController ctl(cfg);
  EXPECT_FALSE(ctl.slow_start());
  uint64_t highest = 0;
  sim.run(ctl, 30 * kSec,
          [&](const RateController& c, uint64_t) { highest = std::max(highest, c.rate_bps()); });
  EXPECT_LE(highest, cfg.ceiling_bps);
  EXPECT_GT(ctl.rate_bps(), cfg.start_bps);  // no loss: it used the measured room
}

// The rate reported as held (`--rate max`, the summary's held_bps): the time-weighted mean of the
// rates set, from the first receiver report to the last.
TEST(RateController, TheRateHeldIsTheTimeWeightedMeanBetweenTheFirstAndLastReports) {
  Sim sim(base(), 3);
  sim.cap = 400e6;
  RateController ctl(sim.cfg);
  struct Tick {
    uint64_t now, rate;  // the rate in effect from `now` to the next tick
    bool reported;
  };
  std::vector<Tick> ticks;
  sim.run(ctl, 8 * kSec, [&](const RateController& c, uint64_t now) {
    ticks.push_back({now, c.rate_bps(), (now / sim.tick_ns) % 10 < 3});  // receivers 0-2 report
  });
  const auto first = std::find_if(ticks.begin(), ticks.end(), [](auto& t) { return t.reported; });
  const auto last = std::find_if(ticks.rbegin(), ticks.rend(), [](auto& t) { return t.reported; });
  ASSERT_LT(first->now, last->now);
  double rate_ns = 0;
  for (auto t = first; t->now < last->now; ++t)
    rate_ns += double(t->rate) * double(std::next(t)->now - t->now);
  EXPECT_GT(ctl.stats().decreases, 0u) << "the cap was found: several rates were held";
  const double held = double(ctl.mean_rate_bps());
  EXPECT_GE(held, double(ctl.stats().min_rate_bps));
  EXPECT_LE(held, double(ctl.stats().max_rate_bps));
  EXPECT_NEAR(held, rate_ns / double(last->now - first->now), 1e-6 * held);
}

TEST(RateController, TheRateHeldIsExactlyTheRateWhenItNeverChanged) {
  RateControllerConfig cfg = base();
  cfg.start_bps = cfg.ceiling_bps = 250'000'000;  // --rate max:250M: starts at its ceiling
  RateController ctl(cfg);
  for (uint64_t t = 0; t < 3 * kSec + 7; t += 37 * kMs + 11) {
    ctl.on_feedback(0, t / kMs * 10, uint32_t(t / kMs * 10), t);
  }
  EXPECT_EQ(ctl.stats().increases + ctl.stats().decreases, 0u);
  EXPECT_EQ(ctl.mean_rate_bps(), 250'000'000u) << "not 249999999 by a rounding";
}

TEST(RateController, DoesNotRaiseARateTheSenderDoesNotReach) {
  Sim sim(base(), 2);
  sim.sender_max = 150e6;
  RateController ctl(sim.cfg);
  sim.run(ctl, 10 * kSec, [](const RateController&, uint64_t) {});
  EXPECT_LE(double(ctl.rate_bps()), 150e6 / sim.cfg.app_limited * sim.cfg.slow_start_growth);
}

TEST(RateController, ThinSamplesAndRestartsAreNotLoss) {
  RateControllerConfig cfg = base();
  RateController ctl(cfg);
  // 20 frames expected, 18 received: 10% "loss" on too few frames.
  ctl.on_feedback(1, 0, 0, 0);
  ctl.on_feedback(1, 18, 20, 200 * kMs);
  EXPECT_EQ(ctl.stats().decisions, 0u);
  // A restarted receiver: counters start over, no sample from the jump.
  ctl.on_feedback(1, 5, 7, 300 * kMs);
  ctl.on_feedback(1, 1005, 1007, 500 * kMs);
  EXPECT_EQ(ctl.stats().decreases, 0u);
  EXPECT_EQ(ctl.stats().decisions, 1u);
}

}  // namespace
}  // namespace shoal::probe
