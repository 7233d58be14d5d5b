#include "session/open_block_budget.h"

#include <algorithm>
#include <string>

#include "common/units.h"

namespace shoal::session {

Result<size_t> open_block_budget(uint64_t max_memory, uint32_t k, uint32_t symbol_size,
                                 uint32_t block_count) {
  const uint64_t slot = open_block_bytes(k, symbol_size);
  if (slot == 0) return make_error("sender sent an empty block layout (K or symbol size 0)");
  const uint64_t floor = std::clamp<uint64_t>(block_count, 1, kMinOpenBlocks);
  const uint64_t need = floor * slot;
  if (need > max_memory) {
    constexpr uint64_t kMiB = uint64_t{1} << 20;
    const uint64_t need_mib = (need + kMiB - 1) / kMiB;
    return make_error("--max-memory " + format_bytes(double(max_memory)) +
                      " is too small for this session: it holds up to " + std::to_string(floor) +
                      " incomplete blocks of 2 x K " + std::to_string(k) + " x " +
                      std::to_string(symbol_size) + "-byte symbols (" + format_bytes(double(need)) +
                      "); pass --max-memory " + std::to_string(need_mib) +
                      "M or more, or have the sender use a smaller --fec K or --symbol-size");
  }
  return static_cast<size_t>(max_memory / slot);
}

}  // namespace shoal::session
