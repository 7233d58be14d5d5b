#include "session/pass_schedule.h"

#include <algorithm>

namespace shoal::session {

std::vector<RepairRange> full_pass_ranges(const RowState& rows, uint8_t proactive) {
  std::vector<RepairRange> r;
  r.reserve(rows.blocks());
  for (uint32_t b = 0; b < rows.blocks(); ++b) {
    unsigned n = std::min<unsigned>(unsigned{rows.k(b)} + proactive, 255);
    r.push_back({b, 0, static_cast<uint8_t>(n)});
  }
  return r;
}

void interleave(std::span<const RepairRange> window, std::vector<SymbolRef>& out) {
  out.clear();
  unsigned longest = 0;
  for (const RepairRange& r : window) longest = std::max<unsigned>(longest, r.count);
  for (unsigned i = 0; i < longest; ++i) {
    for (size_t w = 0; w < window.size(); ++w) {
      const RepairRange& r = window[w];
      if (i < r.count) {
        out.push_back({r.block, static_cast<uint8_t>(r.first_esi + i), static_cast<uint16_t>(w)});
      }
    }
  }
}

}  // namespace shoal::session
