// Anti-replay window over frame sequence numbers (as in IPsec, RFC 4303 3.4.3): a frame is taken
// once, and not at all once it is more than kSize sequences behind the newest. Fed only with
// frames whose tag verified -- but every group member holds the data key, so a tagged frame may
// be an insider's. The window therefore never moves past the sender's horizon (what the sender
// said, over the receiver's own connection, it has sent: control::Horizon) plus kLead: a frame
// numbered further ahead is kAhead, taken on its tag alone without moving the window (a replayed
// symbol is only a duplicate to the block assembler, and every block is checked against its hash
// before it is written). So one forged frame numbered 0xFFFFFFFF no longer makes every genuine
// frame "too old".
#pragma once

#include <array>
#include <cstdint>

namespace shoal::engine {

class ReplayWindow {
 public:
  static constexpr uint32_t kSize = 32768;      // ~46 MB of 1408-byte frames of reordering
  static constexpr uint32_t kLead = kSize / 2;  // how far past the horizon the window may move

  enum class Verdict : uint8_t { kNew, kDuplicate, kTooOld, kAhead };

  // Records `sequence` and says whether it was new.
  Verdict check(uint32_t sequence) noexcept;
  // The sender has used every sequence number below `next_sequence` (only ever grows). Frames
  // genuinely in flight are then at most kLead behind any frame the window may take, so an
  // insider's frame cannot push them out of it.
  void set_horizon(uint32_t next_sequence) noexcept {
    if (next_sequence > horizon_) horizon_ = next_sequence;
  }
  // The highest sequence number the window may take now.
  uint64_t ceiling() const noexcept { return uint64_t{horizon_} + kLead; }

  uint32_t newest() const noexcept { return newest_; }

 private:
  bool test_and_set(uint32_t sequence) noexcept;
  void clear(uint32_t sequence) noexcept;

  std::array<uint64_t, kSize / 64> bits_{};
  uint32_t newest_ = 0;
  uint32_t horizon_ = 0;
  bool any_ = false;
};

}  // namespace shoal::engine
