// The rate search of `shoal probe`: which rate to try next, given the verdicts so far. Pure: no
// clock, no I/O.
//
// 1. Up: from `from_bps`, multiply by `growth` until a step fails or `to_bps` passed (the last
//    rate is `to_bps` itself). If the very first step fails, go down instead (divide by growth,
//    at most max_down times) until one passes.
// 2. Bisect between the highest passing rate (lo) and the lowest failing one (hi), at their
//    geometric mean, until hi / lo <= 1 + precision or max_steps steps were spent in all.
// A step the sender could not deliver at its target (achieved < sender_slack x target) passes at
// the rate it achieved: going up, that ends the search ("the sender is the limit"), since higher
// targets would not be offered either; bisecting, it ends the search only when it did not raise
// the passing rate. A failure always counts at its target (a pacer that falls behind catches up
// in bursts at the target rate), so a busy host's short step cannot condemn a rate that passed.
//
// Result: max_ok_bps() = the highest rate that passed (0 if none), first_bad_bps() = the lowest
// that failed above it (0 if none), limit() = why the search stopped. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>

namespace shoal::probe {

struct SearchConfig {
  uint64_t from_bps = 50'000'000;
  uint64_t to_bps = 10'000'000'000;
  double growth = 2.0;         // > 1
  double precision = 0.03;     // stop bisecting when hi / lo <= 1 + precision
  unsigned max_steps = 20;     // steps in all (up, down and bisection)
  unsigned max_down = 4;       // steps below from_bps when the first one fails
  double sender_slack = 0.95;  // achieved below this fraction of the target = sender-limited
};

enum class SearchPhase { kUp, kDown, kBisect, kDone };

enum class SearchLimit {
  kNone,     // still searching
  kNetwork,  // a failing rate was found above a passing one: the knee is between them
  kSender,   // the sender could not go faster, and what it sent passed
  kRange,    // to_bps passed: the limit is above the range searched
  kNoPass,   // no rate passed, down to the lowest one tried
  kSteps,    // max_steps ran out before the search converged
};

const char* to_string(SearchPhase phase);
const char* to_string(SearchLimit limit);

class KneeSearch {
 public:
  // Invalid settings are clamped: growth to >= 1.1, precision to >= 0.001, to_bps >= from_bps
  // >= 1000, max_steps >= 1.
  explicit KneeSearch(const SearchConfig& config);

  // The rate of the next step, or nothing when the search is over.
  std::optional<uint64_t> next() const;
  SearchPhase phase() const { return phase_; }

  // The verdict of the step run at next(): pass = every receiver's loss was within the
  // threshold; achieved_bps = the rate the sender actually offered.
  void record(bool pass, uint64_t achieved_bps);

  uint64_t max_ok_bps() const { return lo_; }
  uint64_t first_bad_bps() const { return hi_; }
  SearchLimit limit() const { return limit_; }
  unsigned steps() const { return steps_; }

 private:
  void finish(SearchLimit limit);
  void bisect_or_finish();

  SearchConfig cfg_;
  SearchPhase phase_ = SearchPhase::kUp;
  SearchLimit limit_ = SearchLimit::kNone;
  uint64_t next_ = 0;
  uint64_t lo_ = 0;  // highest passing rate
  uint64_t hi_ = 0;  // lowest failing rate above lo_ (0 = none yet)
  unsigned steps_ = 0;
  unsigned down_ = 0;
};

}  // namespace shoal::probe
