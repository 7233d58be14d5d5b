#include "fec/layout.h"

#include <string>

#include "fec/limits.h"

namespace shoal::fec {
namespace {

// ceil(a / b) without the overflow of (a + b - 1) / b near 2^64.
uint64_t div_ceil(uint64_t a, uint64_t b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

}  // namespace

Result<BlockLayout> BlockLayout::make(uint64_t object_size, uint32_t symbol_size, unsigned k) {
  if (auto st = validate_symbol_size(symbol_size); !st.ok()) return make_error(st.error());
  if (k == 0 || k >= kMaxSymbols) {
    return make_error("bad FEC k=" + std::to_string(k) + ": source symbols per block must be 1.." +
                      std::to_string(kMaxSymbols - 1));
  }
  BlockLayout l;
  l.object_size_ = object_size;
  l.symbol_size_ = symbol_size;
  l.k_ = k;
  l.symbol_count_ = div_ceil(object_size, symbol_size);
  const uint64_t blocks = div_ceil(l.symbol_count_, k);
  if (blocks > UINT32_MAX) {
    return make_error("object of " + std::to_string(object_size) + " bytes needs " +
                      std::to_string(blocks) + " FEC blocks of " + std::to_string(k) + " x " +
                      std::to_string(symbol_size) +
                      " bytes, more than 2^32 - 1: use larger symbols or larger k");
  }
  l.block_count_ = static_cast<uint32_t>(blocks);
  return l;
}

unsigned BlockLayout::block_k(uint32_t b) const {
  if (b >= block_count_) return 0;
  if (b + 1 < block_count_) return k_;
  return static_cast<unsigned>(symbol_count_ - uint64_t{b} * k_);
}

uint64_t BlockLayout::block_offset(uint32_t b) const {
  if (b >= block_count_) return 0;
  return uint64_t{b} * k_ * symbol_size_;
}

uint64_t BlockLayout::block_bytes(uint32_t b) const {
  if (b >= block_count_) return 0;
  const uint64_t offset = block_offset(b);
  const uint64_t full = uint64_t{k_} * symbol_size_;
  return object_size_ - offset < full ? object_size_ - offset : full;
}

}  // namespace shoal::fec
