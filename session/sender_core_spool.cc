// SenderCore and a piped object's bounded spool (sender_core.h, "A piped object"): which blocks
// every receiver has, and what becomes of a receiver that falls a spool behind.
#include <algorithm>

#include "session/sender_core.h"

namespace shoal::session {

using Level = action::Log::Level;

uint32_t SenderCore::spool_frontier() const {
  auto frontier = static_cast<uint32_t>(cfg_.block_k.size());
  for (const auto& [id, r] : receivers_) {
    if (r.active()) frontier = std::min(frontier, r.complete_below);
  }
  return frontier;
}

void SenderCore::on_spool_released(uint32_t below) {
  spool_released_ = std::max(spool_released_, below);
}

bool SenderCore::needs_released(ReceiverRecord& r, std::span<const control::NakRun> runs) {
  if (runs.empty() || runs.front().first_block >= spool_released_ || !r.active()) return false;
  fail(r, "needs block " + std::to_string(runs.front().first_block) +
              " again, which the sender's spool of the piped object has let go (a block that "
              "failed its hash late; give a larger --spool-max, or send a file)");
  return true;
}

void SenderCore::on_spool(uint64_t held_bytes, uint64_t max_bytes, bool reader_waiting,
                          uint64_t now_ns) {
  // Pressed from the reader's first wait until the spool has a quarter free again: a laggard
  // that frees a block now and then keeps it pressed, a passing hiccup does not.
  if (phase_ != Phase::kPassing || (!reader_waiting && held_bytes <= max_bytes / 4 * 3)) {
    spool_pressed_since_ns_ = 0;
    return;
  }
  if (spool_pressed_since_ns_ == 0) {
    if (!reader_waiting) return;
    spool_pressed_since_ns_ = now_ns;
  }
  if (now_ns - spool_pressed_since_ns_ < cfg_.answer_timeout_ns) return;
  // The receivers at the frontier hold the pipe for everyone: they go, the others go on.
  const uint32_t frontier = spool_frontier();
  for (auto& [id, r] : receivers_) {
    if (r.active() && r.complete_below == frontier) {
      fail(r, "fell a spool behind the piped object (lacking block " + std::to_string(frontier) +
                  " while the spool stayed full for " +
                  std::to_string(cfg_.answer_timeout_ns / 1'000'000'000) +
                  " s); a larger --spool-max lets a receiver fall further behind");
    }
  }
  spool_pressed_since_ns_ = now_ns;
}

void SenderCore::on_source_failed(const std::string& error, uint64_t /*now_ns*/) {
  if (phase_ == Phase::kFinished) return;
  source_failed_ = true;
  log(Level::kError, "the object could not be read: " + error);
  for (auto& [id, r] : receivers_) {
    if (r.active()) fail(r, "the sender could not read the object: " + error);
  }
  if (phase_ != Phase::kFinished) finish();
}

}  // namespace shoal::session
