#include "session/data_pass.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"

namespace shoal::session {

namespace {
constexpr int kBurst = 64;                       // frames per tx_burst call
constexpr uint64_t kServiceEveryNs = 2'000'000;  // run the control plane at least every 2 ms
}  // namespace

DataPass::DataPass(const SymbolSource& symbols, engine::TxBackend& tx, engine::Pacer& pacer,
                   engine::FrameBuilder& frames, uint32_t window_blocks, Service service)
    : symbols_(symbols),
      tx_(tx),
      pacer_(pacer),
      builder_(frames),
      window_(std::max<uint32_t>(window_blocks, 1)),
      service_(std::move(service)),
      headers_(size_t{kBurst} * engine::kHeaderSize),
      tags_(size_t{kBurst} * engine::kFrameTagSize),
      cipher_(frames.encrypting() ? size_t{kBurst} * symbols.layout().symbol_size() : 0),
      frames_(kBurst) {}

Status DataPass::run(std::span<const RepairRange> ranges, PassStats& stats) {
  for (size_t at = 0; at < ranges.size(); at += window_) {
    auto window = ranges.subspan(at, std::min<size_t>(window_, ranges.size() - at));
    Status s = send_window(window, stats);
    if (!s) return s;
  }
  return {};
}

const uint8_t* DataPass::payload_for(const SymbolRef& s) const {
  const unsigned k = symbols_.layout().block_k(s.block);
  if (s.esi < k) return symbols_.source(s.block, s.esi);
  // Repair rows of a range are stored from its first repair ESI on: max(first_esi, k).
  const unsigned first = std::max<unsigned>(range_first_[s.range], k);
  size_t row = range_repair_at_[s.range] + (s.esi - first);
  return repair_buf_.data() + row * symbols_.layout().symbol_size();
}

void DataPass::wait_until(uint64_t t_ns) {
  uint64_t now = monotonic_ns();
  if (t_ns <= now) return;
  // Long waits serve the control plane; the last stretch sleeps to the exact time.
  if (t_ns - now > 2'000'000) {
    service_(static_cast<int>((t_ns - now) / 1'000'000 - 1));
    last_service_ns_ = monotonic_ns();
    now = last_service_ns_;
    if (t_ns <= now) return;
  }
  timespec ts{static_cast<time_t>(t_ns / 1'000'000'000u), static_cast<long>(t_ns % 1'000'000'000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

Status DataPass::send_window(std::span<const RepairRange> window, PassStats& stats) {
  const fec::BlockLayout& layout = symbols_.layout();
  const size_t sym = layout.symbol_size();

  // Encode this window's repair rows. Each range's repair part is rows max(first, k) .. end.
  range_repair_at_.assign(window.size(), 0);
  range_first_.assign(window.size(), 0);
  size_t rows = 0;
  for (size_t w = 0; w < window.size(); ++w) {
    const RepairRange& r = window[w];
    unsigned k = layout.block_k(r.block);
    unsigned first = std::max<unsigned>(r.first_esi, k);
    unsigned end = unsigned{r.first_esi} + r.count;
    range_repair_at_[w] = rows;
    range_first_[w] = r.first_esi;
    if (end > first) rows += end - first;
  }
  if (repair_buf_.size() < rows * sym) repair_buf_.resize(rows * sym);
  uint8_t* outs[fec::kMaxSymbols];
  for (size_t w = 0; w < window.size(); ++w) {
    const RepairRange& r = window[w];
    unsigned k = layout.block_k(r.block);
    unsigned first = std::max<unsigned>(r.first_esi, k);
    unsigned end = unsigned{r.first_esi} + r.count;
    if (end <= first) continue;
    for (unsigned i = 0; i < end - first; ++i)
      outs[i] = repair_buf_.data() + (range_repair_at_[w] + i) * sym;
    Status s = symbols_.encode(r.block, first, end - first, outs);
    if (!s) return s;
  }

  interleave(window, order_);
  const uint32_t frame_bytes =
      static_cast<uint32_t>(engine::kHeaderSize + sym + builder_.tag_len());
  const uint32_t charge = frame_bytes + engine::kWireOverhead;
  // Half the burst per batch: the other half absorbs late wake-ups, which would otherwise cost
  // rate (a full bucket discards the tokens a late sleeper would have used).
  const size_t batch_frames =
      std::clamp<size_t>(pacer_.burst_bytes() / 2 / charge, 1, size_t{kBurst});
  size_t i = 0;
  while (i < order_.size()) {
    uint64_t now = monotonic_ns();
    if (now - last_service_ns_ > kServiceEveryNs) {
      service_(0);
      last_service_ns_ = now;
    }
    // Wait for a whole batch's worth of budget rather than trickling single frames: one GSO
    // batch per syscall is what makes the kernel path fast, and the pacer's burst bound holds
    // for the batch as for a frame.
    size_t n = std::min<size_t>({batch_frames, order_.size() - i});
    auto d = pacer_.try_send(now, static_cast<uint32_t>(n * charge));
    if (!d.send) {
      wait_until(d.not_before_ns);
      continue;
    }
    for (size_t f = 0; f < n; ++f) {
      const SymbolRef& s = order_[i + f];
      const auto k = static_cast<uint8_t>(layout.block_k(s.block));
      Status b = builder_.data(s.block, k, s.esi, payload_for(s), static_cast<uint16_t>(sym),
                               headers_.data() + f * engine::kHeaderSize,
                               tags_.data() + f * engine::kFrameTagSize,
                               cipher_.empty() ? nullptr : cipher_.data() + f * sym, frames_[f]);
      if (!b) return b;
      if (s.esi >= k) ++stats.repair_frames;
    }
    size_t sent = 0;
    while (sent < n) {
      int r = tx_.tx_burst(frames_.data() + sent, static_cast<int>(n - sent));
      if (r < 0 && r != -EAGAIN && r != -ENOBUFS && r != -EINTR) {
        return make_error(std::string("sending multicast data failed: ") + std::strerror(-r));
      }
      if (r > 0) {
        sent += static_cast<size_t>(r);
      } else {
        // The socket queue is full: the pacer already accounted these bytes, so just let the
        // kernel drain (a queue that full means the rate is above what the NIC moves).
        timespec ts{0, 50'000};
        nanosleep(&ts, nullptr);
      }
    }
    stats.frames += n;
    stats.bytes += n * frame_bytes;
    i += n;
  }
  return {};
}

}  // namespace shoal::session
