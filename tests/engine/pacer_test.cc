#include "engine/pacer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

namespace shoal::engine {
namespace {

__extension__ typedef __int128 I128;

constexpr uint64_t kUnitsPerByte = 8'000'000'000;  // 1 byte = 8e9 "bit-ns per s" units
constexpr uint64_t kMbit = 1'000'000;
constexpr uint64_t kGbit = 1'000'000'000;

// One release, with the integral of the configured rate from the start of the run up to its
// time (in bit*ns/s units: bytes * 8e9), so windows spanning rate changes can be bounded too.
struct Release {
  uint64_t t;
  uint64_t bytes;
  I128 allowance;
};

// Returns the first pair (i, j) whose window breaks sum * 8e9 <= allowance + burst * 8e9,
// checking every pair: O(n^2).
std::pair<long, long> first_violation_all_pairs(const std::vector<Release>& r, uint64_t burst) {
  const I128 slack = I128{burst} * kUnitsPerByte;
  for (size_t i = 0; i < r.size(); ++i) {
    I128 sum = 0;
    for (size_t j = i; j < r.size(); ++j) {
      sum += I128{r[j].bytes} * kUnitsPerByte;
      if (sum > r[j].allowance - r[i].allowance + slack) return {long(i), long(j)};
    }
  }
  return {-1, -1};
}

// Same condition in O(n): sum(i..j) = S_j - S_{i-1}, so the worst window ending at j starts at
// the i minimising S_{i-1} * 8e9 - allowance_i.
long first_violation_sliding(const std::vector<Release>& r, uint64_t burst) {
  const I128 slack = I128{burst} * kUnitsPerByte;
  I128 prefix = 0;  // S_{j-1} * 8e9
  I128 best_start = std::numeric_limits<I128>::max();
  for (size_t j = 0; j < r.size(); ++j) {
    best_start = std::min(best_start, prefix - r[j].allowance);
    prefix += I128{r[j].bytes} * kUnitsPerByte;
    if (prefix - r[j].allowance > slack + best_start) return long(j);
  }
  return -1;
}

TEST(PacerCheckers, DetectAViolation) {
  // 1 Gbit/s = 0.125 byte/ns, burst 1000: 1000 bytes at t=0 are fine, 1001 are not, and 1000
  // more within 8000 ns (1000 bytes' worth) break the window bound.
  const I128 r = kGbit;
  std::vector<Release> ok = {{0, 1000, 0}, {8000, 1000, r * 8000}};
  EXPECT_EQ(first_violation_all_pairs(ok, 1000).first, -1);
  EXPECT_EQ(first_violation_sliding(ok, 1000), -1);
  std::vector<Release> bad = {{0, 600, 0}, {0, 401, 0}};
  EXPECT_EQ(first_violation_all_pairs(bad, 1000), std::make_pair(0L, 1L));
  EXPECT_EQ(first_violation_sliding(bad, 1000), 1);
  std::vector<Release> bad_later = {{0, 1000, 0}, {7999, 1000, r * 7999}};
  EXPECT_EQ(first_violation_all_pairs(bad_later, 1000), std::make_pair(0L, 1L));
  EXPECT_EQ(first_violation_sliding(bad_later, 1000), 1);
}

// A random sender: random sizes, idle gaps, retries before and at not_before_ns, batches through
// budget()/consume(), and (optionally) rate changes.
class Simulation {
 public:
  Simulation(uint64_t rate, uint64_t burst, uint64_t start, uint64_t seed, bool change_rates)
      : pacer_(rate, burst),
        rate_(rate),
        burst_(burst),
        now_(start),
        rng_(seed),
        change_rates_(change_rates) {}

  std::vector<Release> run(size_t releases) {
    std::vector<Release> out;
    const uint64_t max_size = std::min<uint64_t>(burst_, 9064);
    while (out.size() < releases) {
      const uint64_t action = rng_() % 100;
      if (action < 60) {
        const auto size = static_cast<uint32_t>(1 + rng_() % max_size);
        const Pacer::Decision d = pacer_.try_send(now_, size);
        if (d.send) {
          out.push_back({now_, size, allowance_});
          continue;
        }
        EXPECT_GT(d.not_before_ns, now_);
        if (d.not_before_ns == Pacer::kNever) {
          EXPECT_EQ(rate_, 0u);
          advance_to(now_ + 1000);
          pacer_.set_rate(kMbit, now_);
          rate_ = kMbit;
          continue;
        }
        // Mostly retry exactly when told (that must succeed), sometimes a little early.
        if (rng_() % 4 != 0) {
          advance_to(d.not_before_ns);
          EXPECT_TRUE(pacer_.try_send(now_, size).send);
          out.push_back({now_, size, allowance_});
        } else {
          advance_to(now_ + rng_() % (d.not_before_ns - now_));
        }
      } else if (action < 80) {
        const uint64_t budget = pacer_.budget(now_);
        EXPECT_LE(budget, burst_);
        if (budget > 0) {
          const uint64_t bytes = 1 + rng_() % budget;
          pacer_.consume(now_, bytes);
          out.push_back({now_, bytes, allowance_});
        }
      } else if (action < 98 || !change_rates_) {
        advance_to(now_ + random_gap());
      } else {
        static constexpr uint64_t kRates[] = {0, kMbit, 37 * kMbit, kGbit, 10 * kGbit, 100 * kGbit};
        rate_ = kRates[rng_() % std::size(kRates)];
        pacer_.set_rate(rate_, now_);
      }
    }
    return out;
  }

 private:
  void advance_to(uint64_t t) {
    allowance_ += I128{rate_} * (t - now_);
    now_ = t;
  }
  // Mostly within a few packet times at the current rate, sometimes a long idle period.
  uint64_t random_gap() {
    const uint64_t r = std::max<uint64_t>(rate_, kMbit);
    const uint64_t packet_ns = 1500 * kUnitsPerByte / r;
    const uint64_t pick = rng_() % 100;
    if (pick < 20) return 0;
    if (pick < 95) return rng_() % (3 * packet_ns + 1);
    return rng_() % (burst_ * kUnitsPerByte / r * 10 + 1);
  }

  Pacer pacer_;
  uint64_t rate_;
  uint64_t burst_;
  uint64_t now_;
  I128 allowance_ = 0;
  std::mt19937_64 rng_;
  bool change_rates_;
};

struct Config {
  uint64_t rate;
  uint64_t burst;
};
constexpr Config kConfigs[] = {
    {kMbit, 1500},       {kMbit, 9064},          {100 * kMbit, 1500}, {kGbit, 1500},
    {kGbit, 64 * 1024},  {3 * kGbit + 7, 12345}, {10 * kGbit, 9064},  {25 * kGbit, 256 * 1024},
    {100 * kGbit, 9064}, {100 * kGbit, 1 << 20},
};

TEST(Pacer, WindowBoundHoldsForEveryPairOfReleases) {
  uint64_t seed = 100;
  for (const Config& c : kConfigs) {
    for (uint64_t start : {uint64_t{0}, uint64_t{1} << 62}) {
      Simulation sim(c.rate, c.burst, start, ++seed, /*change_rates=*/false);
      const std::vector<Release> r = sim.run(2500);
      const auto [i, j] = first_violation_all_pairs(r, c.burst);
      EXPECT_EQ(i, -1) << "rate " << c.rate << " burst " << c.burst << " window " << i << ".." << j;
    }
  }
}

TEST(Pacer, WindowBoundHoldsOverLongRunsAndRateChanges) {
  uint64_t seed = 200;
  for (const Config& c : kConfigs) {
    for (bool change_rates : {false, true}) {
      Simulation sim(c.rate, c.burst, (uint64_t{1} << 63) - 12345, ++seed, change_rates);
      const std::vector<Release> r = sim.run(200'000);
      EXPECT_EQ(first_violation_sliding(r, c.burst), -1)
          << "rate " << c.rate << " burst " << c.burst << " rate changes " << change_rates;
    }
  }
  Simulation sim(kGbit, 9064, 5, 299, /*change_rates=*/true);
  const std::vector<Release> r = sim.run(3000);
  EXPECT_EQ(first_violation_all_pairs(r, 9064).first, -1);
}

// A greedy sender retrying exactly at not_before_ns gets exactly burst + rate * elapsed: with
// exact arithmetic the shortfall is below one nanosecond's worth of tokens, after 10^6 packets.
TEST(Pacer, LongRunRateHasNoDrift) {
  const Config configs[] = {
      {kMbit, 64000}, {999'999'937, 64000}, {10 * kGbit, 64000}, {100 * kGbit, 64000}};
  std::mt19937_64 rng(300);
  for (const Config& c : configs) {
    for (uint64_t start : {uint64_t{0}, (uint64_t{1} << 63) - 1000}) {
      Pacer pacer(c.rate, c.burst);
      uint64_t now = start;
      uint64_t sent = 0;
      for (int n = 0; n < 1'000'000; ++n) {
        const auto size = static_cast<uint32_t>(64 + rng() % 1437);  // 64..1500
        Pacer::Decision d = pacer.try_send(now, size);
        if (!d.send) {
          ASSERT_GT(d.not_before_ns, now);
          if (n % 1000 == 0) {
            EXPECT_FALSE(pacer.try_send(d.not_before_ns - 1, size).send);
          }
          now = d.not_before_ns;
          d = pacer.try_send(now, size);
          ASSERT_TRUE(d.send);
        }
        sent += size;
      }
      const I128 shortfall =
          I128{c.burst} * kUnitsPerByte + I128{c.rate} * (now - start) - I128{sent} * kUnitsPerByte;
      EXPECT_GE(shortfall, 0) << "rate " << c.rate;
      EXPECT_LT(shortfall, I128{c.rate}) << "rate " << c.rate;
    }
  }
}

TEST(Pacer, WaitTimesAreExactAtTheExtremes) {
  // 1 Mbit/s: a 9064-byte frame takes 9064 * 8 / 1e6 s = 72,512,000 ns.
  Pacer slow(kMbit, 9064);
  EXPECT_TRUE(slow.try_send(1000, 9064).send);
  const Pacer::Decision d = slow.try_send(1000, 9064);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.not_before_ns, 1000u + 72'512'000u);
  EXPECT_FALSE(slow.try_send(d.not_before_ns - 1, 9064).send);
  EXPECT_TRUE(slow.try_send(d.not_before_ns, 9064).send);

  // 100 Gbit/s: 12.5 bytes per ns; 1500 bytes take 120 ns, a single byte needs a whole ns.
  Pacer fast(100 * kGbit, 1500);
  EXPECT_TRUE(fast.try_send(0, 1500).send);
  EXPECT_EQ(fast.try_send(0, 1).not_before_ns, 1u);
  EXPECT_EQ(fast.try_send(0, 1500).not_before_ns, 120u);
  EXPECT_EQ(fast.budget(1), 12u);
  EXPECT_EQ(fast.budget(2), 25u);
  EXPECT_EQ(fast.budget(119), 1487u);
  EXPECT_EQ(fast.budget(120), 1500u);
}

TEST(Pacer, PacketLargerThanBurstIsNeverAllowed) {
  Pacer p(kGbit, 1500);
  const Pacer::Decision d = p.try_send(1'000'000, 1501);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.not_before_ns, Pacer::kNever);
  EXPECT_EQ(p.budget(1'000'000), 1500u);  // nothing accounted
  Pacer empty(kGbit, 0);
  EXPECT_EQ(empty.try_send(0, 1).not_before_ns, Pacer::kNever);
  EXPECT_EQ(empty.budget(uint64_t{1} << 62), 0u);
}

TEST(Pacer, IdleTimeBanksAtMostTheBurst) {
  Pacer p(10 * kGbit, 9000);
  EXPECT_TRUE(p.try_send(0, 9000).send);
  const uint64_t later = std::numeric_limits<uint64_t>::max() - 10;  // after ~584 years idle
  EXPECT_EQ(p.budget(later), 9000u);
  EXPECT_TRUE(p.try_send(later, 9000).send);
  const Pacer::Decision d = p.try_send(later, 1);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.not_before_ns, later + 1);  // 1 byte at 1.25 byte/ns
  // A wait that would pass the end of the clock is reported as never.
  EXPECT_EQ(p.try_send(later, 9000).not_before_ns, Pacer::kNever);
}

TEST(Pacer, DeniedAttemptsAccountNothing) {
  Pacer a(kGbit, 3000), b(kGbit, 3000);
  ASSERT_TRUE(a.try_send(0, 3000).send);
  ASSERT_TRUE(b.try_send(0, 3000).send);
  for (uint64_t t = 0; t < 8000; t += 100) EXPECT_FALSE(a.try_send(t, 1000).send);
  EXPECT_EQ(a.budget(8000), b.budget(8000));
  EXPECT_EQ(a.budget(8000), 1000u);
}

TEST(Pacer, BudgetIsWhatTrySendWouldAllow) {
  std::mt19937_64 rng(400);
  Pacer p(7 * kGbit, 20000);
  uint64_t now = 0;
  for (int i = 0; i < 20000; ++i) {
    now += rng() % 5000;
    const uint64_t budget = p.budget(now);
    Pacer probe = p;
    if (budget > 0) {
      EXPECT_TRUE(probe.try_send(now, static_cast<uint32_t>(budget)).send);
    }
    probe = p;
    if (budget < 20000) {
      EXPECT_FALSE(probe.try_send(now, static_cast<uint32_t>(budget + 1)).send);
    }
    if (budget > 0) p.consume(now, 1 + rng() % budget);
  }
}

TEST(Pacer, ConsumeOverrunIsCarriedAsDebt) {
  Pacer p(kGbit, 1000);  // 0.125 byte/ns
  p.consume(0, 3000);    // 2000 bytes more than allowed: repaid after 16,000 ns
  EXPECT_EQ(p.budget(15'999), 0u);
  EXPECT_EQ(p.budget(16'000), 0u);
  EXPECT_EQ(p.budget(16'008), 1u);
  EXPECT_EQ(p.try_send(16'000, 1000).not_before_ns, 24'000u);
}

TEST(Pacer, TimeGoingBackwardsIsTreatedAsNow) {
  Pacer p(kGbit, 1000);
  ASSERT_TRUE(p.try_send(10'000, 1000).send);
  const Pacer::Decision d = p.try_send(5'000, 500);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.not_before_ns, 14'000u);
  EXPECT_EQ(p.budget(5'000), 0u);
}

TEST(Pacer, SetRateAppliesFromNow) {
  Pacer p(kGbit, 1500);
  ASSERT_TRUE(p.try_send(0, 1500).send);
  // 600 ns at 1 Gbit/s bank 75 bytes; the other 1425 take 1140 ns at 10 Gbit/s.
  p.set_rate(10 * kGbit, 600);
  EXPECT_EQ(p.rate_bps(), 10 * kGbit);
  EXPECT_EQ(p.try_send(600, 1500).not_before_ns, 1740u);
  EXPECT_TRUE(p.try_send(1740, 1500).send);

  p.set_rate(0, 2000);  // paused: 325 bytes banked since 1740, then nothing more
  EXPECT_EQ(p.budget(1'000'000'000), 325u);
  EXPECT_TRUE(p.try_send(5000, 325).send);
  EXPECT_EQ(p.try_send(5000, 1).not_before_ns, Pacer::kNever);
  p.set_rate(kMbit, 10'000);  // resume slowly: 1 byte per 8000 ns
  EXPECT_EQ(p.try_send(10'000, 1).not_before_ns, 18'000u);
}

// A rate controller keeps an automatic burst in step with the rate: a larger burst lets the bucket
// fill further from its current level; a smaller one cuts the level down to it at once.
TEST(Pacer, SetBurstKeepsTheLevelWithinTheNewBurst) {
  Pacer p(kGbit, 32'000);
  ASSERT_TRUE(p.try_send(0, 32'000).send);  // empty
  p.set_burst(1'000'000, 0);
  EXPECT_EQ(p.burst_bytes(), 1'000'000u);
  EXPECT_EQ(p.budget(0), 0u) << "a larger burst is not a gift of bytes";
  EXPECT_EQ(p.budget(8'000'000), 1'000'000u) << "8 ms at 1 Gbit/s fill the larger bucket";
  EXPECT_TRUE(p.try_send(8'000'000, 64'000).send) << "a batch the old burst refused";
  p.set_burst(10'000, 8'000'000);
  EXPECT_EQ(p.budget(8'000'000), 10'000u) << "cut down to the new burst";
  EXPECT_EQ(p.try_send(8'000'000, 10'001).not_before_ns, Pacer::kNever);
}

}  // namespace
}  // namespace shoal::engine
