// RateController: the loss-driven rate control behind `shoal send --rate auto`. Pure: receivers'
// cumulative counters and a timestamp in, a new rate out; no clock, no I/O. The sender feeds it
// every Feedback message and calls Pacer::set_rate with what it returns.
//
// Inputs. Each receiver reports, about every 100 ms while data flows, how many data frames of
// the session it accepted and the highest frame sequence number it saw (both cumulative). Between
// two reports of one receiver, expected = delta(highest sequence), received = delta(frames), and
// its loss = 1 - received / expected. Samples are summed per receiver until they cover min_frames
// frames, so one lost frame of a thin sample cannot look like 10% loss.
//
// Decision, once per interval (default 100 ms), from the receivers with a full sample:
// - the loss that counts is the second-worst receiver's (or the only receiver's): one slow or
//   badly connected receiver does not hold the others back -- it is served by repair, as in the
//   repair planner's rule;
// - loss above loss_threshold (the FEC margin: what repair absorbs cheaply) is a DECREASE. The
//   rate the path delivered, sent x (1 - loss), is remembered as the knee (under a policer it is
//   the policer's rate), and the rate drops to min(rate x decrease_max, knee x knee_margin).
//   Loss reported during the next two intervals is ignored: it was sent at the old rate;
// - otherwise, if every sample was taken entirely at the current rate and the sender really sent
//   at about that rate (not held back by the CPU, a pass end or the pacer's start), an INCREASE: x
//   slow_start_growth per interval until the first decrease (or from the start, with no knee
//   known); after it, additive steps of additive_step x knee per interval up to knee x hold, never
//   past it. After knee_probe_ns at that hold without loss, the knee is raised by knee_probe_step,
//   so a limit that was lifted is found again, slowly.
// - the rate always stays within [floor_bps, ceiling_bps].
// Under a steady policer at C this stays within 0.85-1.03 C, averages above 0.93 C and backs off
// at most about once per two knee_probe_ns (checked in tests/session/rate_controller_test.cc).
//
// Not thread-safe: one controller per sender, fed from its event loop.
#pragma once

#include "engine/wire.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>

namespace shoal::probe {

struct RateControllerConfig {
  uint64_t start_bps = 100'000'000;
  uint64_t floor_bps = 1'000'000;
  uint64_t ceiling_bps = 10'000'000'000;
  uint64_t known_knee_bps = 0;  // a limit measured before (a probe); 0 = unknown: slow start
  double loss_threshold = 0.01;
  uint64_t interval_ns = 100'000'000;
  // bits the pacer charges per data frame (default symbol size, no tag)
  uint64_t frame_bits = (1408 + engine::kHeaderSize + engine::kWireOverhead) * 8;
  uint64_t min_frames = 100;
  double slow_start_growth = 1.25;
  double decrease_max = 0.9;
  double knee_margin = 0.95;
  double hold = 0.98;
  double additive_step = 0.005;
  uint64_t knee_probe_ns = 5'000'000'000;
  double knee_probe_step = 0.02;
  double app_limited = 0.8;  // sent below this fraction of the rate: no increase
};

struct RateControllerStats {
  uint64_t decisions = 0;
  uint64_t decreases = 0;
  uint64_t increases = 0;
  uint64_t min_rate_bps = 0;  // lowest and highest rate set (start included)
  uint64_t max_rate_bps = 0;
  double last_loss = 0;  // the loss that counted at the last decision
};

class RateController {
 public:
  // Settings out of range are clamped (floor >= 1000, ceiling >= floor, start within them).
  explicit RateController(const RateControllerConfig& config);

  // Receiver `receiver`'s cumulative counters, as of now_ns (the sender's clock when the report
  // arrived). A receiver's first report only sets its baseline; counters that go backwards
  // (a restarted receiver) reset it. Returns the new rate when it changed.
  std::optional<uint64_t> on_feedback(uint32_t receiver, uint64_t data_frames,
                                      uint32_t highest_sequence, uint64_t now_ns);
  // A receiver left: its samples no longer count.
  void forget(uint32_t receiver) { rx_.erase(receiver); }

  uint64_t rate_bps() const { return rate_; }
  // The rate held: the time-weighted mean from the first report to the last (the current rate
  // before two reports came).
  uint64_t mean_rate_bps() const;
  uint64_t knee_bps() const { return knee_; }  // 0 until known
  bool slow_start() const { return slow_start_; }
  const RateControllerStats& stats() const { return stats_; }
  const RateControllerConfig& config() const { return cfg_; }

 private:
  struct Rx {
    bool based = false;
    uint64_t frames = 0;
    uint32_t sequence = 0;
    uint64_t last_ns = 0;
    uint64_t acc_frames = 0, acc_expected = 0;
    uint64_t acc_start_ns = 0;
  };
  std::optional<uint64_t> decide(uint64_t now_ns);
  uint64_t clamp(double rate) const;
  // Since when the current rate holds, for the mean (rates change only after the first report).
  uint64_t since_ns() const { return std::max(changed_ns_, first_ns_); }
  std::optional<uint64_t> set(uint64_t rate, uint64_t now_ns);

  RateControllerConfig cfg_;
  std::map<uint32_t, Rx> rx_;
  uint64_t rate_;
  uint64_t knee_ = 0;
  bool slow_start_ = true;
  uint64_t window_start_ns_ = 0;
  bool started_ = false;
  uint64_t ignore_until_ns_ = 0;
  uint64_t hold_since_ns_ = 0;
  uint64_t changed_ns_ = 0;              // when the rate last changed
  uint64_t first_ns_ = 0, last_ns_ = 0;  // the first and the last report
  double rate_ns_ = 0;                   // sum of rate x time of the rates before the current one
  RateControllerStats stats_;
};

}  // namespace shoal::probe
