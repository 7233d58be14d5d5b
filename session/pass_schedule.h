// Pass schedule: the order in which a multicast pass puts symbols on the wire.
// Symbols are interleaved across a window of blocks (block 0 esi 0, block 1 esi 0, ..., block 0
// esi 1, ...) so a burst of loss takes one or two symbols from many blocks -- which FEC repairs
// cheaply -- instead of wiping out one block. The window bounds the sender's repair-symbol buffer
// and the receiver's open blocks. Pure: no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "session/repair_planner.h"

namespace shoal::session {

struct SymbolRef {
  uint32_t block;
  uint8_t esi;
  uint16_t range;  // index of the range in the window it came from
};

// Pass 0: every block's k source symbols followed by `proactive` repair rows.
std::vector<RepairRange> full_pass_ranges(const RowState& rows, uint8_t proactive);

// Fills `out` with the interleaved order of the ranges in `window` (round robin over the
// ranges, each range in ascending ESI). `out` is cleared first; its capacity is reused.
void interleave(std::span<const RepairRange> window, std::vector<SymbolRef>& out);

}  // namespace shoal::session
