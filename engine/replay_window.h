// Anti-replay window over frame sequence numbers (as in IPsec, RFC 4303 3.4.3): a frame is taken
// once, and not at all once it is more than kSize sequences behind the newest. Fed only with
// frames whose tag verified, so a forger cannot push the window forward.
#pragma once

#include <array>
#include <cstdint>

namespace shoal::engine {

class ReplayWindow {
 public:
  static constexpr uint32_t kSize = 8192;  // ~11 MB of 1408-byte frames of reordering

  enum class Verdict : uint8_t { kNew, kDuplicate, kTooOld };

  // Records `sequence` and says whether it was new.
  Verdict check(uint32_t sequence) noexcept;

  uint32_t newest() const noexcept { return newest_; }

 private:
  bool test_and_set(uint32_t sequence) noexcept;
  void clear(uint32_t sequence) noexcept;

  std::array<uint64_t, kSize / 64> bits_{};
  uint32_t newest_ = 0;
  bool any_ = false;
};

}  // namespace shoal::engine
