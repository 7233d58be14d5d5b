#include "session/repair_planner.h"

#include <algorithm>

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

RepairPlan plan_repair(std::span<const ReceiverNeeds> needs, RowState& rows,
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

  RepairPlan plan;
  for (uint32_t b = 0; b < nblocks; ++b) {
    if (mcount[b] == 0) continue;
    RepairRange r = rows.take(b, mcount[b]);
    plan.multicast.push_back(r);
    plan.multicast_symbols += r.count;
  }
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

}  // namespace shoal::session
