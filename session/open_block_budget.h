// How many incomplete blocks a receiver may hold in memory: --max-memory is a hard limit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/result.h"

namespace shoal::session {

// The sender interleaves 32 blocks and a window must fit twice: fewer slots would spill blocks
// of the window being received and throw their repair symbols away, session after session.
inline constexpr size_t kMinOpenBlocks = 64;

// Bytes one incomplete block may take: room for K source and K repair symbols.
inline uint64_t open_block_bytes(uint32_t k, uint32_t symbol_size) {
  return uint64_t{2} * k * symbol_size;
}

// Slots for incomplete blocks that fit in `max_memory`: never fewer than kMinOpenBlocks, or than
// `block_count` when the object has fewer blocks (slots are taken as blocks open, so that is all
// it can use). When that floor does not fit, an error saying how much this session's layout
// needs and how to get there (a larger --max-memory, or a smaller --fec K or --symbol-size at the
// sender).
Result<size_t> open_block_budget(uint64_t max_memory, uint32_t k, uint32_t symbol_size,
                                 uint32_t block_count);

}  // namespace shoal::session
