// Per-step statistics of `shoal probe`: what one receiver saw of one step, from the sequence
// numbers and send times of the frames that arrived. Pure: no clock, no I/O.
//
// Definitions (the sender numbers a step's frames 0, 1, 2, ... in sending order):
// - received:   distinct sequence numbers that arrived;
// - duplicated: arrivals of a sequence number already received;
// - reordered:  distinct frames that arrived after a frame with a higher sequence number
//               (RFC 4737's "reordered": sent earlier, arrived later than a later one);
// - lost:       frames the sender sent (its count) minus distinct frames received;
// - delay:      receive time - send time on two unaligned clocks; only the spread (max - min)
//               within a step means something: queueing and scheduling jitter on the path.
//
// Memory: a bitmap of seen sequence numbers, grown on demand up to max_sequence (1 bit per
// frame: 16 Mi frames take 2 MiB). A sequence number at or above max_sequence is counted in
// out_of_range() and otherwise ignored. Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace shoal::probe {

class StepStats {
 public:
  static constexpr uint32_t kDefaultMaxSequence = uint32_t{1} << 24;

  explicit StepStats(uint32_t max_sequence = kDefaultMaxSequence) : max_(max_sequence) {}

  // One arrival: sequence within the step, send time (sender's clock), arrival (receiver's clock).
  void add(uint32_t sequence, uint64_t send_ns, uint64_t recv_ns);

  uint64_t received() const { return received_; }
  uint64_t duplicated() const { return duplicated_; }
  uint64_t reordered() const { return reordered_; }
  uint64_t out_of_range() const { return out_of_range_; }
  bool has_delay() const { return received_ > 0; }
  int64_t delay_min_ns() const { return received_ ? delay_min_ : 0; }
  int64_t delay_max_ns() const { return received_ ? delay_max_ : 0; }
  uint64_t delay_spread_ns() const {
    return received_ ? static_cast<uint64_t>(delay_max_ - delay_min_) : 0;
  }

  // Frames lost out of `sent`; 0 when more distinct frames arrived than the sender counted.
  static uint64_t lost(uint64_t sent, uint64_t received) {
    return sent > received ? sent - received : 0;
  }
  // lost / sent, 0 for sent == 0.
  static double loss_ratio(uint64_t sent, uint64_t received) {
    return sent ? static_cast<double>(lost(sent, received)) / static_cast<double>(sent) : 0.0;
  }

 private:
  uint32_t max_;
  std::vector<uint64_t> seen_;
  bool any_ = false;
  uint32_t highest_ = 0;
  uint64_t received_ = 0, duplicated_ = 0, reordered_ = 0, out_of_range_ = 0;
  int64_t delay_min_ = 0, delay_max_ = 0;
};

}  // namespace shoal::probe
