#include "session/data_pass.h"

#include <algorithm>
#include <new>
#include <string>

#include "common/clock.h"

namespace shoal::session {

namespace {
constexpr int kBurst = 64;  // frames per tx_burst call
// A pass waiting for its next block's hash sends repair once it has sent nothing for this long
// (longer than receivers' report interval up to 400 receivers: their reports are current).
constexpr uint64_t kQuietNs = 100'000'000;

engine::PacedSender::Options pace_options() {
  engine::PacedSender::Options o;
  o.max_batch = kBurst;
  o.what = "sending multicast data";  // a full queue is waited out for ever: the NIC drains it
  return o;
}
}  // namespace

DataPass::DataPass(const SymbolSource& symbols, engine::TxBackend& tx, engine::Pacer& pacer,
                   engine::FrameBuilder& frames, uint32_t window_blocks, Service service,
                   Interleave interleave, Published published)
    : symbols_(symbols),
      builder_(frames),
      window_(std::max<uint32_t>(window_blocks, 1)),
      service_(std::move(service)),
      interleave_(std::move(interleave)),
      published_(std::move(published)),
      blocks_(symbols.layout().block_count()),
      sent_sequence_(static_cast<uint32_t*>(std::calloc(std::max<size_t>(blocks_, 1), 4))),
      sender_(tx, pacer, engine::system_pace_hooks([this](int timeout_ms) {
                if (live_stats_) {
                  live_stats_->frames = frames_base_ + sender_.frames_sent();
                  live_stats_->bytes = bytes_base_ + sender_.bytes_sent();
                }
                if (service_) service_(timeout_ms);
              }),
              pace_options()),
      headers_(size_t{kBurst} * engine::kHeaderSize),
      tags_(size_t{kBurst} * engine::kFrameTagSize),
      cipher_(frames.encrypting() ? size_t{kBurst} * symbols.layout().symbol_size() : 0),
      frames_(kBurst) {
  if (!sent_sequence_) throw std::bad_alloc();
}

Status DataPass::run(std::span<const RepairRange> ranges, PassStats& stats, const Skip& skip) {
  live_stats_ = &stats;
  frames_base_ = stats.frames - sender_.frames_sent();
  bytes_base_ = stats.bytes - sender_.bytes_sent();
  Status s;
  for (size_t at = 0; at < ranges.size() && s && !stop_; at += window_) {
    auto window = ranges.subspan(at, std::min<size_t>(window_, ranges.size() - at));
    if (published_) {
      uint32_t last = 0;
      for (const RepairRange& r : window) last = std::max(last, r.block);
      s = wait_published(last, stats);
      if (stop_ || !s) break;
    }
    const bool extra = interleave_ && at > 0;
    if (skip || extra) {
      window_ranges_.clear();
      for (const RepairRange& r : window) {
        if (skip && skip(r.block))
          ++stats.skipped_blocks;
        else
          window_ranges_.push_back(r);
      }
      const size_t own = window_ranges_.size();
      if (extra) interleave_(window_ranges_, false);
      for (size_t i = own; i < window_ranges_.size(); ++i)
        stats.interleaved += window_ranges_[i].count;
      window = window_ranges_;
    }
    if (window.empty()) {
      service_(0);  // a long run of skipped blocks still serves the control plane
      continue;
    }
    s = send_window(window, stats);
  }
  stats.frames = frames_base_ + sender_.frames_sent();
  stats.bytes = bytes_base_ + sender_.bytes_sent();
  live_stats_ = nullptr;
  return s;
}

Status DataPass::wait_published(uint32_t block, PassStats& stats) {
  uint64_t quiet_from = monotonic_ns();
  while (!stop_ && !published_(block)) {
    service_(1);
    if (!interleave_ || monotonic_ns() - quiet_from < kQuietNs) continue;
    // Nothing in flight: what receivers still lack goes out now. A piped object's spool waits
    // for exactly that (session/sender_core.h), so without it the pass would wait for ever.
    window_ranges_.clear();
    interleave_(window_ranges_, true);
    if (!window_ranges_.empty()) {
      for (const RepairRange& r : window_ranges_) stats.interleaved += r.count;
      if (Status s = send_window(window_ranges_, stats); !s) return s;
    }
    quiet_from = monotonic_ns();
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
  const auto frame_bytes = static_cast<uint32_t>(engine::kHeaderSize + sym + builder_.tag_len());
  return sender_.run(order_.size(), frame_bytes,
                     [this, &stats](uint64_t first, int n, uint64_t, std::string* error) {
                       return build(first, n, stats, error);
                     });
}

const engine::TxFrame* DataPass::build(uint64_t first, int n, PassStats& stats,
                                       std::string* error) {
  const fec::BlockLayout& layout = symbols_.layout();
  const size_t sym = layout.symbol_size();
  for (size_t f = 0; f < size_t(n); ++f) {
    const SymbolRef& s = order_[first + f];
    const auto k = static_cast<uint8_t>(layout.block_k(s.block));
    Status b = builder_.data(s.block, k, s.esi, payload_for(s), static_cast<uint16_t>(sym),
                             headers_.data() + f * engine::kHeaderSize,
                             tags_.data() + f * engine::kFrameTagSize,
                             cipher_.empty() ? nullptr : cipher_.data() + f * sym, frames_[f]);
    if (!b) {
      *error = b.error();
      return nullptr;
    }
    // A source symbol in the clear is the mapped object itself: a zero-copy port may send it
    // by reference. Repair rows and ciphertext are scratch, reused by the next window.
    frames_[f].payload_stable = s.esi < k && !builder_.encrypting();
    if (s.esi >= k) ++stats.repair_frames;
    sent_sequence_[s.block] = static_cast<uint32_t>(builder_.frames());  // 1 + its sequence
  }
  return frames_.data();
}

}  // namespace shoal::session
