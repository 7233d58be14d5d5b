// `shoal send --rate auto[:PROBE.json]` and `--rate max[:CEILING]`: the glue between a session
// and the RateController
// (probe/rate_controller.h), kept here so the sender and receiver drivers only need a few lines.
//
// Sender: AutoRate picks the start rate and bounds -- from a saved `shoal probe --json` result
// (start at its recommended rate, never above the highest rate it found within its threshold), or
// without one from 100 Mbit/s with a slow start -- then turns each receiver's Feedback into
// Pacer::set_rate calls. With max (no cap expected: the receivers' CPU, disk and sockets are the
// limit) it starts at 1 Gbit/s (or CEILING if lower) with a slow start, up to CEILING (400 Gbit/s
// without one). The loss threshold is the FEC margin: the proactive repair share M/(K+M)
// of --fec K+M, at least 1%.
// Receiver: FeedbackCounter turns the receiver core's counters (authentic data frames of the
// session, highest sequence number) into a Feedback message every 100 ms while data flows.
//
// Not thread-safe: use from the driver's event-loop thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "control/messages.h"
#include "engine/pacer.h"
#include "probe/rate_controller.h"

namespace shoal::probe {

// "auto", "auto:FILE", "max" or "max:RATE": a rate the controller sets.
bool is_rate_auto(std::string_view rate_text);

class AutoRate {
 public:
  // spec: "auto", "auto:FILE", "max" or "max:RATE". frame_bytes = data frame UDP payload (header +
  // symbol). Errors: unreadable or unusable probe file (see read_probe_file).
  static Result<AutoRate> make(std::string_view spec, uint32_t frame_bytes, unsigned k,
                               unsigned proactive);

  uint64_t start_bps() const { return start_; }
  const RateControllerConfig& config() const { return controller_.config(); }
  // The pacer to steer from now on (it must outlive this object or the next attach). With
  // auto_burst its burst follows the rate (engine::default_burst_bytes), as `--burst auto` means.
  void attach(engine::Pacer& pacer, bool auto_burst = false) {
    pacer_ = &pacer;
    auto_burst_ = auto_burst;
  }
  // A receiver's Feedback, arrived at now_ns.
  void on_feedback(uint32_t receiver, const control::Feedback& feedback, uint64_t now_ns);
  void forget(uint32_t receiver) { controller_.forget(receiver); }

  std::string describe() const;      // one line for the log
  std::string describe_end() const;  // the rate held, for the log at the end
  nlohmann::json summary() const;

 private:
  explicit AutoRate(const RateControllerConfig& cfg, std::string source)
      : controller_(cfg), source_(std::move(source)) {}
  RateController controller_;
  std::string source_;
  engine::Pacer* pacer_ = nullptr;
  bool auto_burst_ = false;
  uint64_t start_ = 0;
};

class FeedbackCounter {
 public:
  static constexpr uint64_t kIntervalNs = 100'000'000;

  // The receiver core's counters (ReceiverStats data_frames, highest_sequence, dropped()) and
  // the data frames it had to drop for want of memory (no_room_drops: blocks waiting for the disk
  // hold the slots). Those are reported as not received, so a sender under --rate auto or max
  // slows down for a receiver's disk as for its network. Returns a Feedback when kIntervalNs
  // passed since the last one and data frames arrived meanwhile.
  std::optional<control::Feedback> poll(uint64_t now_ns, uint64_t data_frames,
                                        uint32_t highest_sequence, uint64_t frames_rejected,
                                        uint64_t frames_without_room = 0);

 private:
  uint64_t sent_frames_ = 0, last_ns_ = 0;
};

}  // namespace shoal::probe
