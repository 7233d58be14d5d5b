#include "probe/probe_autorate.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/units.h"
#include "engine/paced_sender.h"
#include "engine/wire.h"
#include "probe/probe_report.h"

namespace shoal::probe {
namespace {

constexpr uint64_t kNoProbeStartBps = 100'000'000;
constexpr uint64_t kNoProbeCeilingBps = 10'000'000'000;
// --rate max: no policer is expected, the receivers (their CPU, disk, sockets) are the limit.
// Starting at 1 Gbit/s saves the slow start from 100 Mbit/s most of a second.
constexpr uint64_t kMaxStartBps = 1'000'000'000;
constexpr uint64_t kMaxCeilingBps = 400'000'000'000;
constexpr uint64_t kFloorBps = 1'000'000;
constexpr double kMinLossThreshold = 0.01;

}  // namespace

bool is_rate_auto(std::string_view rate_text) {
  return rate_text == "auto" || rate_text.starts_with("auto:") || rate_text == "max" ||
         rate_text.starts_with("max:");
}

Result<AutoRate> AutoRate::make(std::string_view spec, uint32_t frame_bytes, unsigned k,
                                unsigned proactive) {
  RateControllerConfig cfg;
  cfg.frame_bits = uint64_t{frame_bytes + engine::kWireOverhead} * 8;
  cfg.loss_threshold =
      std::max(kMinLossThreshold, k + proactive ? double(proactive) / double(k + proactive) : 0.0);
  cfg.floor_bps = kFloorBps;
  std::string source = "no probe result: slow start";
  if (spec.starts_with("auto:")) {
    const std::string path(spec.substr(5));
    if (path.empty()) return make_error("--rate auto:FILE needs a file name after the colon");
    auto saved = read_probe_file(path);
    if (!saved) return make_error(saved.error());
    cfg.start_bps = saved->recommended_bps;
    cfg.known_knee_bps = saved->max_ok_bps;
    cfg.ceiling_bps = saved->max_ok_bps;
    cfg.floor_bps = std::max(kFloorBps, saved->recommended_bps / 10);
    source = "probe result " + path;
  } else if (spec == "max" || spec.starts_with("max:")) {
    cfg.ceiling_bps = kMaxCeilingBps;
    source = "max";
    if (spec.starts_with("max:")) {
      auto ceiling = parse_rate(std::string(spec.substr(4)));
      if (!ceiling) return make_error("--rate max:CEILING: " + ceiling.error());
      if (*ceiling < kFloorBps)
        return make_error("--rate max:CEILING must be at least 1M (the controller's floor), not " +
                          std::string(spec.substr(4)));
      cfg.ceiling_bps = *ceiling;
      source = "max, at most " + format_rate(double(*ceiling));
    }
    cfg.start_bps = std::min(kMaxStartBps, cfg.ceiling_bps);
  } else if (spec != "auto") {
    return make_error("'" + std::string(spec) + "' is not auto, auto:FILE, max or max:RATE");
  } else {
    cfg.start_bps = kNoProbeStartBps;
    cfg.ceiling_bps = kNoProbeCeilingBps;
  }
  AutoRate a(cfg, std::move(source));
  a.start_ = a.controller_.rate_bps();
  return a;
}

void AutoRate::on_feedback(uint32_t receiver, const control::Feedback& feedback, uint64_t now_ns) {
  const auto rate =
      controller_.on_feedback(receiver, feedback.data_frames, feedback.highest_sequence, now_ns);
  if (!rate) return;
  if (pacer_) {
    pacer_->set_rate(*rate, now_ns);
    if (auto_burst_) pacer_->set_burst(engine::default_burst_bytes(*rate), now_ns);
  }
  spdlog::debug("rate auto: {} (loss {:.3f}%, knee {})", format_rate(double(*rate)),
                controller_.stats().last_loss * 100,
                controller_.knee_bps() ? format_rate(double(controller_.knee_bps())) : "unknown");
}

std::string AutoRate::describe() const {
  const RateControllerConfig& c = controller_.config();
  return std::string(source_.starts_with("max") ? "rate max" : "rate auto") + " (" + source_ +
         "): start " + format_rate(double(start_)) + ", between " +
         format_rate(double(c.floor_bps)) + " and " + format_rate(double(c.ceiling_bps)) +
         ", backing off above " + std::to_string(c.loss_threshold * 100).substr(0, 4) + "% loss";
}

std::string AutoRate::describe_end() const {
  const RateControllerStats& s = controller_.stats();
  return std::string(source_.starts_with("max") ? "rate max" : "rate auto") + " held " +
         format_rate(double(controller_.mean_rate_bps())) + " on average (between " +
         format_rate(double(s.min_rate_bps)) + " and " + format_rate(double(s.max_rate_bps)) +
         ", " + std::to_string(s.decreases) + " back-offs)";
}

nlohmann::json AutoRate::summary() const {
  const RateControllerStats& s = controller_.stats();
  return {{"source", source_},
          {"start_bps", start_},
          {"final_bps", controller_.rate_bps()},
          {"knee_bps", controller_.knee_bps()},
          {"min_bps", s.min_rate_bps},
          {"max_bps", s.max_rate_bps},
          {"held_bps", controller_.mean_rate_bps()},
          {"decreases", s.decreases},
          {"increases", s.increases},
          {"loss_threshold", controller_.config().loss_threshold}};
}

std::optional<control::Feedback> FeedbackCounter::poll(uint64_t now_ns, uint64_t data_frames,
                                                       uint32_t highest_sequence,
                                                       uint64_t frames_rejected,
                                                       uint64_t frames_without_room) {
  if (now_ns - last_ns_ < kIntervalNs || data_frames == sent_frames_) return std::nullopt;
  last_ns_ = now_ns;
  sent_frames_ = data_frames;
  return control::Feedback{data_frames - std::min(data_frames, frames_without_room),
                           highest_sequence, frames_rejected};
}

}  // namespace shoal::probe
