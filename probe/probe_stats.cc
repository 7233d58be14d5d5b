#include "probe/probe_stats.h"

#include <algorithm>

namespace shoal::probe {

void StepStats::add(uint32_t sequence, uint64_t send_ns, uint64_t recv_ns) {
  if (sequence >= max_) {
    ++out_of_range_;
    return;
  }
  const size_t word = sequence / 64;
  const uint64_t bit = uint64_t{1} << (sequence % 64);
  if (word >= seen_.size()) {
    // Grow geometrically so a step of n frames costs O(n) in total.
    seen_.resize(std::max(word + 1, seen_.size() * 2), 0);
  }
  if (seen_[word] & bit) {
    ++duplicated_;
    return;
  }
  seen_[word] |= bit;
  ++received_;
  if (any_ && sequence < highest_) ++reordered_;
  if (!any_ || sequence > highest_) highest_ = sequence;
  // Unsigned difference read as signed: the clocks are unrelated, only differences matter.
  const auto delay = static_cast<int64_t>(recv_ns - send_ns);
  if (!any_) {
    delay_min_ = delay_max_ = delay;
  } else {
    delay_min_ = std::min(delay_min_, delay);
    delay_max_ = std::max(delay_max_, delay);
  }
  any_ = true;
}

}  // namespace shoal::probe
