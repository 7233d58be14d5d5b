// SenderCore's slow receivers (sender_core.h, "Slow receivers"): who is slow after a multicast
// pass, and what --slow-receiver does with it; the unicast lane's feed of exactly what a
// receiver lacks.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/units.h"
#include "session/sender_core.h"

namespace shoal::session {

namespace {

using Level = action::Log::Level;

std::string percent(double share) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", share * 100);
  return buf;
}

}  // namespace

uint64_t SenderCore::lacked_symbols(const std::vector<NeedRun>& needs) const {
  const auto blocks = static_cast<uint32_t>(cfg_.block_k.size());
  uint64_t lacked = 0;
  for (const NeedRun& run : needs) {
    if (run.first_block >= blocks) continue;
    const auto end =
        static_cast<uint32_t>(std::min<uint64_t>(uint64_t{run.first_block} + run.count, blocks));
    const auto shorter =
        std::lower_bound(short_blocks_.begin(), short_blocks_.end(), run.first_block);
    if (shorter == short_blocks_.end() || *shorter >= end) {
      // Every block of the run has k = max_k_ (the usual case: all but perhaps the last block).
      lacked += uint64_t{std::min(run.missing, max_k_)} * (end - run.first_block);
      continue;
    }
    for (uint32_t b = run.first_block; b < end; ++b) {
      lacked += std::min(run.missing, cfg_.block_k[b]);
    }
  }
  return lacked;
}

// Exactly what the receiver lacks: a block it lacks entirely as its k source symbols, a block
// lacking m < k symbols as m fresh repair rows (taken from rows_, so multicast never repeats
// them): the bytes streamed are about the bytes missing.
std::vector<RepairRange> SenderCore::feed_of(const std::vector<NeedRun>& needs) {
  const auto blocks = static_cast<uint32_t>(cfg_.block_k.size());
  std::vector<RepairRange> items;
  for (const NeedRun& run : needs) {
    if (run.missing == 0) continue;
    const uint64_t end = std::min<uint64_t>(uint64_t{run.first_block} + run.count, blocks);
    for (uint64_t b = run.first_block; b < end; ++b) {
      const uint8_t k = cfg_.block_k[b];
      if (run.missing >= k) {
        items.push_back({static_cast<uint32_t>(b), 0, k});
      } else {
        items.push_back(rows_.take(static_cast<uint32_t>(b), run.missing));
      }
    }
  }
  return items;
}

void SenderCore::to_unicast_lane(ReceiverRecord& r, double share, uint32_t pass) {
  r.unicast = true;
  r.slow = true;
  r.reason = "slow: lacked " + percent(share) + " of the object after pass " +
             std::to_string(pass) +
             " (its port, disk or CPU is slower than --rate); served by unicast at the pace its "
             "connection takes";
  log(Level::kWarn, "receiver " + r.name + " (" + r.addr + ") is " + r.reason);
  r.unicast_pass_base = passes_;
  r.unicast_passes = 0;
  feed_lane(r, r.unicast_pass_base, feed_of(r.needs));
  r.needs.clear();
}

// A receiver is slow when it lacks more than kSlowShare of the object and more than kSlowFactor
// times the lower-median receiver. Receivers that are done count as lacking nothing; with one
// receiver the median is itself, so it is never slow. A receiver that joined during the pass is
// left out: what it lacks is what went before it joined.
void SenderCore::classify_slow(uint32_t pass) {
  if (source_symbols_ == 0) return;
  std::vector<uint64_t> lacks;
  std::vector<std::pair<ReceiverRecord*, uint64_t>> answered;
  for (auto& [id, r] : receivers_) {
    if (r.unicast || (r.state != ReceiverState::kDone && r.first_full_pass > pass)) continue;
    if (r.state == ReceiverState::kDone && r.asked) {
      lacks.push_back(0);
    } else if (r.multicast() && r.asked && r.answered) {
      const uint64_t lacked = lacked_symbols(r.needs);
      lacks.push_back(lacked);
      answered.emplace_back(&r, lacked);
    }
  }
  if (lacks.empty()) return;
  std::sort(lacks.begin(), lacks.end());
  const double median = double(lacks[(lacks.size() - 1) / 2]);
  uint64_t new_rate = 0;
  for (auto [r, lacked] : answered) {
    const double share = double(lacked) / double(source_symbols_);
    if (share <= kSlowShare || double(lacked) <= kSlowFactor * median) continue;
    const char* what = cfg_.slow == SlowPolicy::kUnicast ? "unicast"
                       : cfg_.slow == SlowPolicy::kWait  ? "wait"
                                                         : "drop";
    emit("slow", {{"receiver", r->name},
                  {"address", r->addr},
                  {"lacked_share", std::round(share * 1000) / 1000},
                  {"action", what}});
    switch (cfg_.slow) {
      case SlowPolicy::kUnicast:
        to_unicast_lane(*r, share, pass);
        break;
      case SlowPolicy::kDrop:
        fail(*r, "too slow: lacked " + percent(share) + " of the object after pass " +
                     std::to_string(pass) + " (--slow-receiver drop)");
        break;
      case SlowPolicy::kWait: {
        // udpcast's way: everyone slows to what this receiver took in that pass.
        const double got =
            r->pass_frames_sent > 0
                ? std::min(1.0, double(r->pass_frames_received) / double(r->pass_frames_sent))
                : 1.0 - share;
        const uint64_t rate =
            std::max(kSlowMinRateBps, static_cast<uint64_t>(double(rate_bps_) * got));
        r->slow = true;
        r->reason = "slow: lacked " + percent(share) + " of the object after pass " +
                    std::to_string(pass) + "; --slow-receiver wait lowered the rate to " +
                    format_rate(double(rate));
        log(Level::kWarn, "receiver " + r->name + " (" + r->addr + ") is " + r->reason);
        if (new_rate == 0 || rate < new_rate) new_rate = rate;
        break;
      }
    }
  }
  if (new_rate != 0 && new_rate < rate_bps_) {
    rate_bps_ = new_rate;
    push(action::SetRate{new_rate});
  }
}

}  // namespace shoal::session
