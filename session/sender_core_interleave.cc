// SenderCore's repair during a pass (sender_core.h, "Repair during a pass"): Progress reports in,
// fresh repair rows out, sent with the next window of new data.
#include <algorithm>

#include "session/sender_core.h"

namespace shoal::session {

uint16_t progress_interval_ms(size_t receivers) {
  const uint64_t ms = uint64_t{receivers} * 1000 / kProgressBudgetPerSecond;
  return static_cast<uint16_t>(std::clamp<uint64_t>(ms, kProgressMinIntervalMs, 60'000));
}

void SenderCore::on_progress(ReceiverRecord& r, const control::Progress& p) {
  if (phase_ != Phase::kPassing || !r.multicast() || r.state != ReceiverState::kReady) return;
  // The delivery ratio: data frames it received per sequence number sent meanwhile (unicast
  // repair to others takes sequence numbers too, so this errs on the low side).
  if (!r.delivery_based || p.highest_sequence < r.delivery_base_sequence) {
    r.delivery_based = true;
    r.delivery_base_sequence = p.highest_sequence;
    r.delivery_base_frames = p.data_frames;
  } else if (p.highest_sequence - r.delivery_base_sequence >= kDeliverySample) {
    const uint64_t got = p.data_frames - std::min(p.data_frames, r.delivery_base_frames);
    r.delivery = std::min(1.0, double(got) / double(p.highest_sequence - r.delivery_base_sequence));
    r.delivery_base_sequence = p.highest_sequence;
    r.delivery_base_frames = p.data_frames;
  }
  assign_need_runs(r.progress, p.runs);
  r.progress_sequence = p.highest_sequence;
  if (!r.progress_fresh) progress_ids_.push_back(r.id);
  r.progress_fresh = true;
}

void SenderCore::take_interleaved_repair(std::span<const uint32_t> sent_sequence,
                                         std::vector<RepairRange>& out, bool quiet) {
  const auto blocks =
      static_cast<uint32_t>(std::min<size_t>(cfg_.block_k.size(), sent_sequence.size()));
  interleave_need_.resize(cfg_.block_k.size());
  if (quiet) {
    // Nothing is in flight and no new report will come until something is sent: every
    // receiver's last report stands, the lossy ones' too (the pass waits on a piped object's
    // spool, which only their repair can free).
    progress_ids_.clear();
    for (const auto& [id, r] : receivers_) {
      if (r.multicast() && r.state == ReceiverState::kReady) progress_ids_.push_back(id);
    }
  }
  for (const uint32_t id : progress_ids_) {
    ReceiverRecord* r = find(id);
    if (!r) continue;
    r->progress_fresh = false;
    // Not a receiver interleaved repair serves: gone, slow, measured too lossy, or Ready only
    // since this pass began (it lacks what went before; the pass end plans for it).
    if (phase_ != Phase::kPassing || !r->multicast() ||
        (!quiet && (r->first_full_pass > passes_ || r->delivery < 1.0 - kSlowShare))) {
      continue;
    }
    for (const NeedRun& run : r->progress) {
      const uint64_t end = std::min<uint64_t>(uint64_t{run.first_block} + run.count, blocks);
      for (uint64_t b = run.first_block; b < end; ++b) {
        const uint32_t sent = sent_sequence[b];
        if (sent == 0 || (!quiet && uint64_t{sent} + kInFlightFrames > r->progress_sequence))
          continue;
        const uint8_t want = std::min(run.missing, cfg_.block_k[b]);
        uint8_t& need = interleave_need_[b];
        if (need == 0) interleave_touched_.push_back(static_cast<uint32_t>(b));
        need = std::max(need, want);
      }
    }
  }
  progress_ids_.clear();
  std::sort(interleave_touched_.begin(), interleave_touched_.end());
  size_t taken = 0;
  const size_t bound = quiet ? kMaxQuietRepairBlocks : kMaxInterleavedBlocks;
  for (const uint32_t b : interleave_touched_) {
    // Beyond the step's bound the rest waits: it is reported again.
    if (taken++ < bound) {
      out.push_back(rows_.take(b, interleave_need_[b]));
      interleaved_symbols_ += interleave_need_[b];
    }
    interleave_need_[b] = 0;
  }
  interleave_touched_.clear();
}

}  // namespace shoal::session
