#include "probe/probe_search.h"

#include <algorithm>
#include <cmath>

namespace shoal::probe {

const char* to_string(SearchPhase phase) {
  switch (phase) {
    case SearchPhase::kUp:
      return "up";
    case SearchPhase::kDown:
      return "down";
    case SearchPhase::kBisect:
      return "bisect";
    case SearchPhase::kDone:
      return "done";
  }
  return "?";
}

const char* to_string(SearchLimit limit) {
  switch (limit) {
    case SearchLimit::kNone:
      return "none";
    case SearchLimit::kNetwork:
      return "network";
    case SearchLimit::kSender:
      return "sender";
    case SearchLimit::kRange:
      return "range";
    case SearchLimit::kNoPass:
      return "no-pass";
    case SearchLimit::kSteps:
      return "steps";
  }
  return "?";
}

KneeSearch::KneeSearch(const SearchConfig& config) : cfg_(config) {
  cfg_.growth = std::max(cfg_.growth, 1.1);
  cfg_.precision = std::max(cfg_.precision, 0.001);
  cfg_.from_bps = std::max<uint64_t>(cfg_.from_bps, 1000);
  cfg_.to_bps = std::max(cfg_.to_bps, cfg_.from_bps);
  cfg_.max_steps = std::max(cfg_.max_steps, 1u);
  next_ = cfg_.from_bps;
}

std::optional<uint64_t> KneeSearch::next() const {
  if (phase_ == SearchPhase::kDone) return std::nullopt;
  return next_;
}

void KneeSearch::finish(SearchLimit limit) {
  phase_ = SearchPhase::kDone;
  limit_ = limit;
}

void KneeSearch::bisect_or_finish() {
  if (hi_ <= lo_ + 2 ||
      static_cast<double>(hi_) <= static_cast<double>(lo_) * (1.0 + cfg_.precision)) {
    finish(SearchLimit::kNetwork);
    return;
  }
  if (steps_ >= cfg_.max_steps) {
    finish(SearchLimit::kSteps);
    return;
  }
  phase_ = SearchPhase::kBisect;
  const double mid = std::sqrt(static_cast<double>(lo_) * static_cast<double>(hi_));
  next_ = std::clamp(static_cast<uint64_t>(mid), lo_ + 1, hi_ - 1);
}

void KneeSearch::record(bool pass, uint64_t achieved_bps) {
  if (phase_ == SearchPhase::kDone) return;
  ++steps_;
  const uint64_t target = next_;
  const bool sender_limited =
      static_cast<double>(achieved_bps) < cfg_.sender_slack * static_cast<double>(target);

  if (pass) {
    // A pass counts at what was really offered: never more than the target (the first burst can
    // overshoot it), and only what the sender achieved when it fell short.
    const uint64_t rate = sender_limited ? std::max<uint64_t>(achieved_bps, 1) : target;
    const uint64_t before = lo_;
    lo_ = std::max(lo_, rate);
    if (sender_limited) {
      // Going up, higher targets would not be offered either. Bisecting, a short step that still
      // raised the passing rate narrows the bracket; one that did not cannot narrow it further.
      if (phase_ == SearchPhase::kUp || lo_ == before) return finish(SearchLimit::kSender);
      return bisect_or_finish();
    }
    if (phase_ == SearchPhase::kUp) {
      if (target >= cfg_.to_bps) return finish(SearchLimit::kRange);
      if (steps_ >= cfg_.max_steps) return finish(SearchLimit::kSteps);
      next_ = std::min<uint64_t>(cfg_.to_bps,
                                 static_cast<uint64_t>(static_cast<double>(target) * cfg_.growth));
      return;
    }
    return bisect_or_finish();  // down or bisect: hi_ is known
  }

  // A failure counts at its target even when the sender fell short on average: a pacer that
  // falls behind catches up in bursts at (or above) the target rate, and those bursts are what a
  // policer drops. Counting it at the lower average would condemn rates that passed before.
  // Targets always lie above lo_, so the bracket stays lo_ < hi_.
  const uint64_t rate = target;
  hi_ = hi_ == 0 ? rate : std::min(hi_, rate);
  if (lo_ == 0) {
    if (down_ >= cfg_.max_down || hi_ <= 1000) return finish(SearchLimit::kNoPass);
    if (steps_ >= cfg_.max_steps) return finish(SearchLimit::kSteps);
    ++down_;
    phase_ = SearchPhase::kDown;
    next_ = std::max<uint64_t>(1000, static_cast<uint64_t>(static_cast<double>(hi_) / cfg_.growth));
    return;
  }
  bisect_or_finish();
}

}  // namespace shoal::probe
