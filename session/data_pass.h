// DataPass: puts one multicast pass on the wire -- the symbols of a list of ranges, interleaved
// window by window, framed, paced and sent in bursts through a TxBackend. Between bursts it hands
// control to a service hook (the control-plane event loop), so one thread runs both planes.
// Buffers are sized once and reused: nothing is allocated per packet.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/frame_builder.h"
#include "engine/paced_sender.h"
#include "engine/pacer.h"
#include "engine/transport.h"
#include "engine/wire.h"
#include "session/pass_schedule.h"
#include "session/symbol_source.h"

namespace shoal::session {

struct PassStats {
  uint64_t frames = 0;
  uint64_t repair_frames = 0;  // frames carrying repair rows (ESI >= k)
  uint64_t interleaved = 0;    // repair symbols sent during the pass for receivers' reports
  uint64_t bytes = 0;          // UDP payload bytes
  uint64_t skipped_blocks =
      0;  // blocks left out by the Skip hook (all zeros: object/zero_blocks.h)
};

class DataPass {
 public:
  // service(timeout_ms): run the control plane for at most timeout_ms (0 = only what is ready).
  using Service = std::function<void(int timeout_ms)>;
  // Before each window: ranges to send along with it (repair during the pass; SenderCore's
  // take_interleaved_repair). Appends to the vector it is given. `quiet`: asked while the pass
  // waits for a block to be published and has sent nothing for a while.
  using Interleave = std::function<void(std::vector<RepairRange>& extra, bool quiet)>;
  // May the data of blocks up to `block` go out yet? (Their hashes must lead them: the sender
  // hashes while it sends.) While not, the pass serves the control plane and asks again, and
  // sends repair (Interleave, quiet) each time it has been quiet for a while.
  using Published = std::function<bool(uint32_t block)>;
  // Blocks to leave out of the pass (asked once their hash is published): the first pass leaves
  // out all-zero blocks, which receivers fill in from their hashes.
  using Skip = std::function<bool(uint32_t block)>;

  DataPass(const SymbolSource& symbols, engine::TxBackend& tx, engine::Pacer& pacer,
           engine::FrameBuilder& frames, uint32_t window_blocks, Service service,
           Interleave interleave = {}, Published published = {});
  DataPass(const DataPass&) = delete;  // its pacing hooks point back at it
  DataPass& operator=(const DataPass&) = delete;

  // Sends every symbol of `ranges` but those of blocks `skip` names (none when empty). Returns an
  // error only if the backend fails hard.
  Status run(std::span<const RepairRange> ranges, PassStats& stats, const Skip& skip = {});
  // Ends the running pass after its current window (the sender is stopping).
  void stop() { stop_ = true; }
  // Per block: 1 + the sequence number of the newest frame sent for it (0: none yet).
  std::span<const uint32_t> sent_sequence() const { return {sent_sequence_.get(), blocks_}; }

 private:
  Status send_window(std::span<const RepairRange> window, PassStats& stats);
  Status wait_published(uint32_t block, PassStats& stats);
  const uint8_t* payload_for(const SymbolRef& s) const;
  // Builds frames order_[first, first + n) into the per-batch buffers (PacedSender::Build).
  const engine::TxFrame* build(uint64_t first, int n, PassStats& stats, std::string* error);

  const SymbolSource& symbols_;
  engine::FrameBuilder& builder_;
  uint32_t window_;
  Service service_;
  Interleave interleave_;
  Published published_;
  bool stop_ = false;
  std::vector<RepairRange> window_ranges_;  // a window's ranges and its interleaved repair
  // calloc'd: zero pages the kernel maps as blocks are first sent, not 4 bytes x every block
  // written before the first frame (millions of blocks).
  struct Free {
    void operator()(uint32_t* p) const { std::free(p); }
  };
  size_t blocks_;
  std::unique_ptr<uint32_t[], Free> sent_sequence_;
  // The running pass's stats, brought up to date before each service call (the control plane
  // reports them): frames/bytes = base + what sender_ sent (modular arithmetic).
  PassStats* live_stats_ = nullptr;
  uint64_t frames_base_ = 0, bytes_base_ = 0;
  engine::PacedSender sender_;  // pacing, batching, retries (engine/paced_sender.h)

  std::vector<SymbolRef> order_;
  std::vector<uint8_t> repair_buf_;      // repair rows of the current window
  std::vector<size_t> range_repair_at_;  // per range: index of its first repair row in repair_buf_
  std::vector<uint8_t> range_first_;     // per range: its first ESI
  std::vector<uint8_t> headers_;         // kBurst headers
  std::vector<uint8_t> tags_;            // kBurst tags
  std::vector<uint8_t> cipher_;          // kBurst encrypted payloads (--encrypt only)
  std::vector<engine::TxFrame> frames_;  // kBurst frames
};

}  // namespace shoal::session
