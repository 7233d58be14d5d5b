#include "engine/pacer.h"

namespace shoal::engine {
namespace {

__extension__ typedef unsigned __int128 U128;

constexpr uint64_t kUnitsPerByte = 8'000'000'000;  // 8 bits * 1e9 ns/s
// Debt floor for absurd consume() overruns, far from the int128 limit (no UB, still ~2^92 bytes).
constexpr int kDebtFloorShift = 125;

}  // namespace

Pacer::Pacer(uint64_t rate_bps, uint64_t burst_bytes) noexcept
    : rate_bps_(rate_bps),
      burst_bytes_(burst_bytes),
      capacity_(static_cast<Units>(U128{burst_bytes} * kUnitsPerByte)),
      level_(capacity_) {}

Pacer::Units Pacer::level_at(uint64_t now_ns) const noexcept {
  if (now_ns <= last_ns_ || level_ >= capacity_) return level_;
  // Both factors < 2^64, so the product fits in 128 unsigned bits; compare before adding so a
  // long idle period saturates at the capacity instead of overflowing.
  const U128 accrued = U128{now_ns - last_ns_} * rate_bps_;
  const U128 room = static_cast<U128>(capacity_ - level_);
  return accrued >= room ? capacity_ : level_ + static_cast<Units>(accrued);
}

void Pacer::refill(uint64_t now_ns) noexcept {
  level_ = level_at(now_ns);
  if (now_ns > last_ns_) last_ns_ = now_ns;
}

Pacer::Decision Pacer::try_send(uint64_t now_ns, uint32_t bytes) noexcept {
  if (bytes > burst_bytes_) return {false, kNever};
  refill(now_ns);
  const Units need = static_cast<Units>(U128{bytes} * kUnitsPerByte);
  if (level_ >= need) {
    level_ -= need;
    return {true, now_ns};
  }
  if (rate_bps_ == 0) return {false, kNever};
  const U128 deficit = static_cast<U128>(need - level_);
  // Ceiling division; the 64-bit path covers every realistic burst (deficit < 2^64 units).
  const U128 wait = deficit <= UINT64_MAX
                        ? U128{(static_cast<uint64_t>(deficit) - 1) / rate_bps_ + 1}
                        : (deficit - 1) / rate_bps_ + 1;
  if (wait >= kNever - last_ns_) return {false, kNever};
  return {false, last_ns_ + static_cast<uint64_t>(wait)};
}

uint64_t Pacer::budget(uint64_t now_ns) const noexcept {
  const Units level = level_at(now_ns);
  if (level <= 0) return 0;
  return static_cast<uint64_t>(static_cast<U128>(level) / kUnitsPerByte);
}

void Pacer::consume(uint64_t now_ns, uint64_t bytes) noexcept {
  refill(now_ns);
  const Units floor = -(Units{1} << kDebtFloorShift);
  const Units units = static_cast<Units>(U128{bytes} * kUnitsPerByte);  // < 2^97
  level_ = level_ - floor < units ? floor : level_ - units;
}

void Pacer::set_rate(uint64_t rate_bps, uint64_t now_ns) noexcept {
  refill(now_ns);
  rate_bps_ = rate_bps;
}

void Pacer::set_burst(uint64_t burst_bytes, uint64_t now_ns) noexcept {
  refill(now_ns);
  burst_bytes_ = burst_bytes;
  capacity_ = static_cast<Units>(U128{burst_bytes} * kUnitsPerByte);
  if (level_ > capacity_) level_ = capacity_;
}

}  // namespace shoal::engine
