// Repair planner: turns the receivers' NAKs after a multicast pass into the next repair step.
// Pure: NAKs and per-block row state in, a plan out; no I/O, no clock.
//
// Why fresh rows: a Reed-Solomon repair symbol with a row index no receiver has seen fixes ANY one
// missing symbol of its block at EVERY receiver, so a block needs max(missing) fresh symbols, not
// sum(missing) retransmissions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace shoal::session {

// One run of a receiver's NAK: blocks [first_block, first_block + count) each lack `missing`
// symbols.
struct NeedRun {
  uint32_t first_block;
  uint32_t count;
  uint8_t missing;
};

struct ReceiverNeeds {
  uint32_t receiver;  // caller's id, echoed in unicast entries
  std::span<const NeedRun> runs;
};

// Symbols to send for one block with row indices (ESIs) first_esi .. first_esi + count - 1.
struct RepairRange {
  uint32_t block;
  uint8_t first_esi;
  uint8_t count;
};

struct UnicastRepair {
  uint32_t receiver;
  RepairRange range;
};

struct RepairPlan {
  std::vector<RepairRange> multicast;  // in block order
  std::vector<UnicastRepair> unicast;  // grouped by receiver, in block order
  uint64_t multicast_symbols = 0;
  uint64_t unicast_symbols = 0;
};

struct PlannerConfig {
  // A block lacking at most this many receivers is repaired by unicast to each of them;
  // more receivers share a multicast repair of as many rows as the second-worst of them lacks,
  // and the worst one gets its excess by unicast.
  uint32_t unicast_max_receivers = 1;
  // A receiver whose unicast share would exceed this many symbols in one pass is served by
  // multicast instead (a straggler with heavy loss should not turn the sender into a unicast
  // server).
  uint64_t unicast_budget_symbols = 256;
};

// Per-block repair-row state: the next fresh ESI of every block. The planner advances it.
class RowState {
 public:
  // block_k[b] = source symbols of block b; first_repair_esi[b] = k_b + proactive repair already
  // sent.
  RowState(std::span<const uint8_t> block_k, uint8_t proactive);
  uint32_t blocks() const { return static_cast<uint32_t>(next_.size()); }
  uint8_t k(uint32_t block) const { return k_[block]; }
  // Allocates `count` fresh rows of `block`; wraps to the first repair row after ESI 254, since
  // once every row has been sent, any row is as likely to help as another.
  RepairRange take(uint32_t block, uint8_t count);

 private:
  std::vector<uint8_t> k_;
  std::vector<uint8_t> next_;
};

// plan_repair's working memory (O(NAK runs)), for a caller that plans again and again
// (SenderCore): kept, it is not allocated and faulted in anew for every repair step.
struct PlannerScratch {
  // The runs covering one block, as far as the top two go.
  struct Top {
    uint32_t covering = 0;
    uint8_t top = 0, below = 0;  // the largest missing count; the largest one below it
    uint32_t top_runs = 0;       // runs holding `top`
    uint64_t top_run_sum = 0;    // the sum of their indices: the run itself when alone
    void add(uint8_t v, uint32_t runs, uint64_t run_sum, uint8_t v_below, uint32_t n) {
      covering += n;
      if (v > top) {
        below = std::max(top, v_below);
        top = v;
        top_runs = runs;
        top_run_sum = run_sum;
      } else if (v == top) {
        below = std::max(below, v_below);
        top_runs += runs;
        top_run_sum += run_sum;
      } else {
        below = std::max(below, v);
      }
    }
  };
  struct LongRun {
    uint32_t run, first, end;
    uint8_t missing;
  };
  std::vector<uint32_t> receiver_first, start_at, end_at, starts, ends;
  std::vector<LongRun> long_runs;
  std::vector<Top> tops;
};

// Plans one repair step. NAK runs naming blocks beyond rows.blocks() are ignored (the caller
// validates NAKs against the manifest first; this keeps the planner total). The cost is
// O(NAK runs + blocks), not O(blocks each receiver lacks), with unicast_max_receivers <= 1.
RepairPlan plan_repair(std::span<const ReceiverNeeds> needs, RowState& rows,
                       const PlannerConfig& cfg);
RepairPlan plan_repair(std::span<const ReceiverNeeds> needs, RowState& rows,
                       const PlannerConfig& cfg, PlannerScratch& scratch);

}  // namespace shoal::session
