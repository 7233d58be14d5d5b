#include "object/zero_blocks.h"

#include <span>

namespace shoal::object {

ZeroBlocks::ZeroBlocks(const fec::BlockLayout& layout) : layout_(layout) {
  const uint32_t n = layout.block_count();
  full_bytes_ = n > 0 ? layout.block_bytes(0) : 0;
  zeros_.assign(full_bytes_, 0);
  full_ = sha256(zeros_);
  const uint64_t last = n > 0 ? layout.block_bytes(n - 1) : 0;
  last_ = sha256(std::span<const uint8_t>(zeros_.data(), last));
}

}  // namespace shoal::object
