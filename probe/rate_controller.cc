#include "probe/rate_controller.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace shoal::probe {

RateController::RateController(const RateControllerConfig& config) : cfg_(config) {
  cfg_.floor_bps = std::max<uint64_t>(cfg_.floor_bps, 1000);
  cfg_.ceiling_bps = std::max(cfg_.ceiling_bps, cfg_.floor_bps);
  cfg_.min_frames = std::max<uint64_t>(cfg_.min_frames, 1);
  cfg_.frame_bits = std::max<uint64_t>(cfg_.frame_bits, 8);
  cfg_.interval_ns = std::max<uint64_t>(cfg_.interval_ns, 1);
  rate_ = std::clamp(cfg_.start_bps, cfg_.floor_bps, cfg_.ceiling_bps);
  if (cfg_.known_knee_bps > 0) {
    knee_ = std::clamp(cfg_.known_knee_bps, cfg_.floor_bps, cfg_.ceiling_bps);
    slow_start_ = false;
  }
  stats_.min_rate_bps = stats_.max_rate_bps = rate_;
}

uint64_t RateController::clamp(double rate) const {
  if (!(rate > 0)) return cfg_.floor_bps;
  const double c =
      std::clamp(rate, static_cast<double>(cfg_.floor_bps), static_cast<double>(cfg_.ceiling_bps));
  return static_cast<uint64_t>(c);
}

std::optional<uint64_t> RateController::set(uint64_t rate, uint64_t now_ns) {
  if (rate == rate_) return std::nullopt;
  rate_ns_ += static_cast<double>(rate_) * static_cast<double>(now_ns - since_ns());
  changed_ns_ = now_ns;
  (rate > rate_ ? stats_.increases : stats_.decreases)++;
  rate_ = rate;
  stats_.min_rate_bps = std::min(stats_.min_rate_bps, rate);
  stats_.max_rate_bps = std::max(stats_.max_rate_bps, rate);
  return rate;
}

uint64_t RateController::mean_rate_bps() const {
  if (last_ns_ <= first_ns_ || stats_.increases + stats_.decreases == 0) return rate_;
  const double now_part = static_cast<double>(rate_) * static_cast<double>(last_ns_ - since_ns());
  const double mean = (rate_ns_ + now_part) / static_cast<double>(last_ns_ - first_ns_);
  // Rounded and kept within the rates set: a mean must not fall outside them by a rounding.
  return std::clamp(static_cast<uint64_t>(std::llround(mean)), stats_.min_rate_bps,
                    stats_.max_rate_bps);
}

std::optional<uint64_t> RateController::on_feedback(uint32_t receiver, uint64_t data_frames,
                                                    uint32_t highest_sequence, uint64_t now_ns) {
  if (!started_) {
    started_ = true;
    window_start_ns_ = first_ns_ = now_ns;
  }
  last_ns_ = std::max(last_ns_, now_ns);
  Rx& r = rx_[receiver];
  const uint32_t d_seq = highest_sequence - r.sequence;  // modulo 2^32: sequences wrap
  const bool backwards = data_frames < r.frames || d_seq > (uint32_t{1} << 31);
  if (!r.based || backwards) {
    r = Rx{};
    r.based = true;
  } else if (now_ns >= ignore_until_ns_) {
    if (r.acc_expected == 0 && r.acc_frames == 0) r.acc_start_ns = r.last_ns;
    r.acc_frames += data_frames - r.frames;
    r.acc_expected += d_seq;
  }
  r.frames = data_frames;
  r.sequence = highest_sequence;
  r.last_ns = now_ns;
  return decide(now_ns);
}

std::optional<uint64_t> RateController::decide(uint64_t now_ns) {
  if (now_ns < ignore_until_ns_ || now_ns - window_start_ns_ < cfg_.interval_ns) {
    return std::nullopt;
  }
  std::vector<double> losses;
  double sent_bps = 0;  // the fastest any sampled receiver saw the sequence advance
  bool clean = true;    // every sample was taken entirely at the current rate
  for (auto& [id, r] : rx_) {
    if (r.acc_expected < cfg_.min_frames) continue;
    clean &= r.acc_start_ns >= changed_ns_;
    const double expected = static_cast<double>(r.acc_expected);
    losses.push_back(std::clamp(1.0 - static_cast<double>(r.acc_frames) / expected, 0.0, 1.0));
    if (r.last_ns > r.acc_start_ns) {
      sent_bps = std::max(sent_bps, expected * static_cast<double>(cfg_.frame_bits) * 1e9 /
                                        static_cast<double>(r.last_ns - r.acc_start_ns));
    }
    r.acc_frames = r.acc_expected = 0;
  }
  if (losses.empty()) return std::nullopt;  // keep summing until a sample is big enough
  window_start_ns_ = now_ns;
  ++stats_.decisions;
  std::sort(losses.begin(), losses.end(), std::greater<>());
  const double loss = losses.size() >= 2 ? losses[1] : losses[0];
  stats_.last_loss = loss;
  const double rate = static_cast<double>(rate_);

  if (loss > cfg_.loss_threshold) {
    // What the path delivered: under a policer, its rate. The sender may have sent less than the
    // pacer allowed; then that is what was offered.
    const double offered = sent_bps > 0 ? std::min(rate, sent_bps) : rate;
    knee_ = clamp(offered * (1.0 - loss));
    slow_start_ = false;
    hold_since_ns_ = 0;
    ignore_until_ns_ = now_ns + 2 * cfg_.interval_ns;
    for (auto& [id, r] : rx_) r.acc_frames = r.acc_expected = 0;
    return set(
        clamp(std::min(rate * cfg_.decrease_max, static_cast<double>(knee_) * cfg_.knee_margin)),
        now_ns);
  }
  // No loss at a rate partly measured at the previous one says little about the current one.
  if (!clean) return std::nullopt;
  if (sent_bps > 0 && sent_bps < cfg_.app_limited * rate) return std::nullopt;  // not the limit
  if (slow_start_) return set(clamp(rate * cfg_.slow_start_growth), now_ns);
  const double knee = static_cast<double>(knee_);
  const double top = knee * cfg_.hold;
  if (rate < top) {
    hold_since_ns_ = 0;
    return set(clamp(std::min(top, rate + cfg_.additive_step * knee)), now_ns);
  }
  // At the hold: after a long clean stretch, believe the limit may have moved up.
  if (hold_since_ns_ == 0) hold_since_ns_ = now_ns;
  if (now_ns - hold_since_ns_ >= cfg_.knee_probe_ns) {
    knee_ = clamp(knee * (1.0 + cfg_.knee_probe_step));
    hold_since_ns_ = now_ns;
    return set(clamp(std::min(static_cast<double>(knee_) * cfg_.hold,
                              rate + cfg_.additive_step * static_cast<double>(knee_))),
               now_ns);
  }
  return std::nullopt;
}

}  // namespace shoal::probe
