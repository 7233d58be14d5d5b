#include "session/repair_planner.h"

#include <algorithm>
#include <array>
#include <bit>

namespace shoal::session {

namespace {
constexpr unsigned kMaxEsi = 254;
}

RowState::RowState(std::span<const uint8_t> block_k, uint8_t proactive)
    : k_(block_k.begin(), block_k.end()), next_(block_k.size()) {
  for (size_t b = 0; b < k_.size(); ++b) {
    unsigned first = std::min<unsigned>(k_[b] + unsigned{proactive}, kMaxEsi + 1);
    next_[b] = static_cast<uint8_t>(first > kMaxEsi ? k_[b] : first);
  }
}

RepairRange RowState::take(uint32_t block, uint8_t count) {
  unsigned k = k_[block];
  unsigned rows = kMaxEsi + 1 - k;  // repair rows available to this block
  count = static_cast<uint8_t>(std::min<unsigned>(count, std::min<unsigned>(rows, 255)));
  unsigned first = next_[block];
  if (first + count > kMaxEsi + 1) first = k;  // wrap: a contiguous range keeps encoding one call
  unsigned next = first + count;
  next_[block] = static_cast<uint8_t>(next > kMaxEsi ? k : next);
  return {block, static_cast<uint8_t>(first), count};
}

namespace {

// Fresh rows for every block some multicast is planned for, in block order.
RepairPlan multicast_plan(std::span<const uint8_t> mcount, RowState& rows) {
  RepairPlan plan;
  for (uint32_t b = 0; b < mcount.size(); ++b) {
    if (mcount[b] == 0) continue;
    RepairRange r = rows.take(b, mcount[b]);
    plan.multicast.push_back(r);
    plan.multicast_symbols += r.count;
  }
  return plan;
}

// The rule block by block, every run expanded: O(receivers x blocks lacked). Used when
// unicast_max_receivers > 1 (the sweep below identifies one receiver per block).
RepairPlan plan_expanded(std::span<const ReceiverNeeds> needs, RowState& rows,
                         const PlannerConfig& cfg) {
  const uint32_t nblocks = rows.blocks();
  auto for_each_need = [&](const ReceiverNeeds& r, auto&& fn) {
    for (const NeedRun& run : r.runs) {
      if (run.missing == 0 || run.first_block >= nblocks) continue;
      uint32_t end =
          static_cast<uint32_t>(std::min<uint64_t>(uint64_t{run.first_block} + run.count, nblocks));
      for (uint32_t b = run.first_block; b < end; ++b) {
        fn(b, std::min<uint8_t>(run.missing, rows.k(b)));
      }
    }
  };
  // Per block: the largest and second-largest missing counts, and how many receivers lack it.
  std::vector<uint8_t> worst(nblocks, 0), second(nblocks, 0);
  std::vector<uint32_t> needers(nblocks, 0);
  for (const ReceiverNeeds& r : needs) {
    for_each_need(r, [&](uint32_t b, uint8_t m) {
      if (m > worst[b]) {
        second[b] = worst[b];
        worst[b] = m;
      } else if (m > second[b]) {
        second[b] = m;
      }
      ++needers[b];
    });
  }

  // Multicast carries what several receivers need: for a block lacked by more than
  // unicast_max_receivers, as many fresh rows as the second-worst receiver lacks; the worst
  // receiver's excess goes to it alone by unicast (multicasting it would cost every receiver the
  // time). Blocks lacked by few receivers go by unicast entirely.
  std::vector<uint8_t> mcount(nblocks, 0);
  for (uint32_t b = 0; b < nblocks; ++b) {
    if (needers[b] > cfg.unicast_max_receivers) mcount[b] = second[b];
  }
  // A receiver whose unicast share exceeds the budget is served by multicast instead: each of
  // its blocks is multicast whole (sized to the worst receiver).
  for (const ReceiverNeeds& r : needs) {
    uint64_t share = 0;
    for_each_need(r, [&](uint32_t b, uint8_t m) { share += m > mcount[b] ? m - mcount[b] : 0; });
    if (share <= cfg.unicast_budget_symbols) continue;
    for_each_need(r, [&](uint32_t b, uint8_t) { mcount[b] = worst[b]; });
  }

  RepairPlan plan = multicast_plan(mcount, rows);
  for (const ReceiverNeeds& r : needs) {
    for_each_need(r, [&](uint32_t b, uint8_t m) {
      if (m <= mcount[b]) return;
      RepairRange range = rows.take(b, static_cast<uint8_t>(m - mcount[b]));
      plan.unicast.push_back({r.receiver, range});
      plan.unicast_symbols += range.count;
    });
  }
  return plan;
}

// Per block, the two largest missing counts among the runs covering it, how many runs cover it,
// and which run holds the largest when one alone does. Only a run that alone holds a block's
// largest count can need more than the block's multicast share, so those (run, block) pairs,
// "excess" below, are all the later steps look at. Short runs (the usual NAK: a few blocks) are
// added block by block; long ones by a sweep over their boundaries, bucketed by block, with a
// histogram of the covering runs' missing counts: O(runs + blocks) either way.
struct Excess {
  uint32_t run;       // index of the run among all valid runs, in needs order
  uint32_t receiver;  // index into needs
  uint32_t block;
};

constexpr uint32_t kShortRun = 16;  // blocks: a longer run goes to the sweep

bool valid_run(const NeedRun& run, uint32_t nblocks) {
  return run.missing != 0 && run.first_block < nblocks && run.count != 0;
}

uint32_t run_end(const NeedRun& run, uint32_t nblocks) {
  return static_cast<uint32_t>(std::min<uint64_t>(uint64_t{run.first_block} + run.count, nblocks));
}

using Top = PlannerScratch::Top;

RepairPlan plan_swept(std::span<const ReceiverNeeds> needs, RowState& rows,
                      const PlannerConfig& cfg, PlannerScratch& scratch) {
  const uint32_t nblocks = rows.blocks();
  // A run's index (among the valid runs, in needs order) orders the unicast entries as the
  // expanded rule visits them; receiver_first[i] is needs[i]'s first.
  auto& receiver_first = scratch.receiver_first;
  auto& longs = scratch.long_runs;
  auto& tops = scratch.tops;
  receiver_first.assign(needs.size() + 1, 0);
  longs.clear();
  tops.assign(nblocks, {});
  uint32_t g = 0;
  for (size_t i = 0; i < needs.size(); ++i) {
    receiver_first[i] = g;
    for (const NeedRun& run : needs[i].runs) {
      if (!valid_run(run, nblocks)) continue;
      const uint32_t end = run_end(run, nblocks);
      if (end - run.first_block > kShortRun) {
        longs.push_back({g, run.first_block, end, run.missing});
      } else {
        for (uint32_t b = run.first_block; b < end; ++b) tops[b].add(run.missing, 1, g, 0, 1);
      }
      ++g;
    }
  }
  receiver_first[needs.size()] = g;

  if (!longs.empty()) {
    // Long runs' starts and ends bucketed by block (a counting sort), then swept.
    auto& start_at = scratch.start_at;
    auto& end_at = scratch.end_at;
    start_at.assign(nblocks + 2, 0);
    end_at.assign(nblocks + 2, 0);
    for (const auto& r : longs) {
      ++start_at[r.first + 2];
      if (r.end < nblocks) ++end_at[r.end + 2];  // a run to the last block never ends
    }
    for (uint32_t b = 2; b < nblocks + 2; ++b) {
      start_at[b] += start_at[b - 1];
      end_at[b] += end_at[b - 1];
    }
    auto& starts = scratch.starts;
    auto& ends = scratch.ends;
    starts.resize(longs.size());
    ends.resize(longs.size());
    for (uint32_t i = 0; i < longs.size(); ++i) {
      starts[start_at[longs[i].first + 1]++] = i;
      if (longs[i].end < nblocks) ends[end_at[longs[i].end + 1]++] = i;
    }
    // Now start_at[b] .. start_at[b + 1] are block b's starts (likewise ends).
    std::array<uint32_t, 256> count{};    // covering long runs by missing count
    std::array<uint64_t, 256> run_sum{};  // the sum of their run indices
    std::array<uint64_t, 4> present{};    // bit v: count[v] > 0
    uint32_t covering = 0;
    auto add = [&](uint32_t i, int sign) {
      const uint8_t v = longs[i].missing;
      const uint32_t run = longs[i].run;
      if (sign > 0) {
        if (count[v]++ == 0) present[v / 64] |= uint64_t{1} << (v % 64);
        run_sum[v] += run;
        ++covering;
      } else {
        if (--count[v] == 0) present[v / 64] &= ~(uint64_t{1} << (v % 64));
        run_sum[v] -= run;
        --covering;
      }
    };
    // The largest v < below with count[v] > 0 (0: none).
    auto highest_below = [&](unsigned below) -> unsigned {
      for (unsigned w = (below - 1) / 64 + 1; w-- > 0;) {
        uint64_t bits = present[w];
        if (w == (below - 1) / 64 && (below % 64) != 0) bits &= (uint64_t{1} << (below % 64)) - 1;
        if (bits != 0) return w * 64 + 63 - static_cast<unsigned>(std::countl_zero(bits));
      }
      return 0;
    };
    for (uint32_t b = 0; b < nblocks; ++b) {
      for (uint32_t e = end_at[b]; e < end_at[b + 1]; ++e) add(ends[e], -1);
      for (uint32_t s = start_at[b]; s < start_at[b + 1]; ++s) add(starts[s], +1);
      if (covering == 0) continue;
      const unsigned top = highest_below(256);
      tops[b].add(static_cast<uint8_t>(top), count[top], run_sum[top],
                  static_cast<uint8_t>(highest_below(top)), covering);
    }
  }

  std::vector<uint8_t> worst(nblocks, 0), mcount(nblocks, 0);
  std::vector<Excess> excess;
  for (uint32_t b = 0; b < nblocks; ++b) {
    const Top& t = tops[b];
    if (t.covering == 0) continue;
    const uint8_t k = rows.k(b);
    worst[b] = std::min(t.top, k);
    const uint8_t second = std::min(t.top_runs >= 2 ? t.top : t.below, k);
    if (t.covering > cfg.unicast_max_receivers) mcount[b] = second;
    if (worst[b] > mcount[b]) {  // then one run alone holds t.top
      const auto run = static_cast<uint32_t>(t.top_run_sum);
      const auto receiver = static_cast<uint32_t>(
          std::upper_bound(receiver_first.begin(), receiver_first.end(), run) -
          receiver_first.begin() - 1);
      excess.push_back({run, receiver, b});
    }
  }
  // Grouped by run (stable: block order within a run), i.e. in the expanded rule's visit order.
  std::stable_sort(excess.begin(), excess.end(),
                   [](const Excess& a, const Excess& c) { return a.run < c.run; });

  // A receiver whose unicast share exceeds the budget is served by multicast instead: each of
  // its blocks is multicast whole (sized to the worst receiver). Receivers in order: an earlier
  // one's multicast shrinks a later one's share.
  size_t x = 0;
  for (size_t i = 0; i < needs.size(); ++i) {
    uint64_t share = 0;
    for (; x < excess.size() && excess[x].receiver == i; ++x) {
      const uint32_t b = excess[x].block;
      share += worst[b] > mcount[b] ? worst[b] - mcount[b] : 0;
    }
    if (share <= cfg.unicast_budget_symbols) continue;
    for (const NeedRun& run : needs[i].runs) {
      if (!valid_run(run, nblocks)) continue;
      for (uint32_t b = run.first_block, end = run_end(run, nblocks); b < end; ++b) {
        mcount[b] = worst[b];
      }
    }
  }

  RepairPlan plan = multicast_plan(mcount, rows);
  for (const Excess& e : excess) {
    if (worst[e.block] <= mcount[e.block]) continue;
    RepairRange range = rows.take(e.block, static_cast<uint8_t>(worst[e.block] - mcount[e.block]));
    plan.unicast.push_back({needs[e.receiver].receiver, range});
    plan.unicast_symbols += range.count;
  }
  return plan;
}

}  // namespace

RepairPlan plan_repair(std::span<const ReceiverNeeds> needs, RowState& rows,
                       const PlannerConfig& cfg, PlannerScratch& scratch) {
  return cfg.unicast_max_receivers <= 1 ? plan_swept(needs, rows, cfg, scratch)
                                        : plan_expanded(needs, rows, cfg);
}

RepairPlan plan_repair(std::span<const ReceiverNeeds> needs, RowState& rows,
                       const PlannerConfig& cfg) {
  PlannerScratch scratch;
  return plan_repair(needs, rows, cfg, scratch);
}

}  // namespace shoal::session
