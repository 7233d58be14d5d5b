#include "engine/replay_window.h"

namespace shoal::engine {

bool ReplayWindow::test_and_set(uint32_t sequence) noexcept {
  const uint32_t bit = sequence % kSize;
  uint64_t& word = bits_[bit / 64];
  const uint64_t mask = uint64_t{1} << (bit % 64);
  const bool was = (word & mask) != 0;
  word |= mask;
  return was;
}

void ReplayWindow::clear(uint32_t sequence) noexcept {
  const uint32_t bit = sequence % kSize;
  bits_[bit / 64] &= ~(uint64_t{1} << (bit % 64));
}

ReplayWindow::Verdict ReplayWindow::check(uint32_t sequence) noexcept {
  if (sequence > ceiling()) return Verdict::kAhead;
  if (!any_) {
    any_ = true;
    newest_ = sequence;
    test_and_set(sequence);
    return Verdict::kNew;
  }
  if (sequence > newest_) {
    // Slide: the slots of the sequences skipped over belong to the new ones now.
    const uint64_t gap = uint64_t{sequence} - newest_;
    if (gap >= kSize) {
      bits_.fill(0);
    } else {
      for (uint32_t s = newest_ + 1; s != sequence; ++s) clear(s);
      clear(sequence);
    }
    newest_ = sequence;
    test_and_set(sequence);
    return Verdict::kNew;
  }
  if (newest_ - sequence >= kSize) return Verdict::kTooOld;
  return test_and_set(sequence) ? Verdict::kDuplicate : Verdict::kNew;
}

}  // namespace shoal::engine
