// Token-bucket pacer on a nanosecond clock: rate in bits/s, burst in bytes.
//
// Guarantee: for ANY window [t0, t1] of the caller's clock, the bytes released by try_send()
// (plus the bytes given to consume() within budget()) at times inside the window never exceed
//     rate * (t1 - t0) / 8e9 + burst.
// With a piecewise-constant rate (set_rate), rate * (t1 - t0) becomes the integral of the rate.
//
// Pure arithmetic: no clock reads, no allocation, no floating point. The bucket level is kept
// exactly, in units of 1/8e9 byte (one nanosecond at R bit/s adds exactly R units), in 128-bit
// integers, so there is no rounding and no drift at any rate (1 Mbit/s..100 Gbit/s and beyond)
// or time value (the whole uint64_t range, ~2^63 ns included).
//
// Behaviour at the edges:
// - The bucket starts full. Idle time never banks more than `burst` bytes.
// - A packet larger than the burst can never be sent without breaking the guarantee, so
//   try_send() refuses it with not_before_ns == kNever (also for burst == 0). Configure the
//   burst at least as large as the largest frame.
// - rate == 0 pauses the pacer: what is left in the bucket may go, then kNever.
// - Time must not go backwards; a now_ns earlier than the latest one seen is treated as that
//   latest time (nothing accrues, nothing breaks).
// - consume() of more than budget() is a caller bug; the excess is carried as debt (the bucket
//   goes negative) so later sends wait it off and the long-run rate still holds.
//
// Not thread-safe: one Pacer per sending thread or flow.
#pragma once

#include <cstdint>

namespace shoal::engine {

class Pacer {
 public:
  static constexpr uint64_t kNever = UINT64_MAX;

  struct Decision {
    bool send;               // true: the bytes were accounted, send them now
    uint64_t not_before_ns;  // send: now_ns; else the earliest time these bytes may go, or kNever
  };

  Pacer(uint64_t rate_bps, uint64_t burst_bytes) noexcept;

  // Accounts `bytes` and returns send=true if the bucket holds them at now_ns; otherwise accounts
  // nothing and says when they will fit (valid until set_rate() or consume() change the plan).
  Decision try_send(uint64_t now_ns, uint32_t bytes) noexcept;

  // Bytes that may be released at now_ns (for sizing a batch / GSO super-packet). <= burst.
  uint64_t budget(uint64_t now_ns) const noexcept;

  // Accounts a batch the caller built within budget(now_ns).
  void consume(uint64_t now_ns, uint64_t bytes) noexcept;

  // Changes the rate from now_ns on; time before now_ns accrues at the old rate.
  void set_rate(uint64_t rate_bps, uint64_t now_ns) noexcept;
  // Changes the burst from now_ns on (a rate controller keeps an automatic burst in step with the
  // rate): the bucket keeps its level, at most the new burst.
  void set_burst(uint64_t burst_bytes, uint64_t now_ns) noexcept;

  uint64_t rate_bps() const noexcept { return rate_bps_; }
  uint64_t burst_bytes() const noexcept { return burst_bytes_; }

 private:
  __extension__ typedef __int128 Units;  // signed: consume() overruns go negative

  Units level_at(uint64_t now_ns) const noexcept;
  void refill(uint64_t now_ns) noexcept;

  uint64_t rate_bps_;
  uint64_t burst_bytes_;
  Units capacity_;        // burst_bytes * 8e9
  Units level_;           // bucket level in 1/8e9-byte units, <= capacity_
  uint64_t last_ns_ = 0;  // time level_ refers to
};

}  // namespace shoal::engine
