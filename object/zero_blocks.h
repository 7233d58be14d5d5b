// All-zero blocks: a disk image is mostly zeros, and a block whose hash is the hash of zeros needs
// no data on the wire. The sender leaves such blocks out of its first pass; a receiver fills them
// in when their hash arrives (writing zeros only where its target may hold something else). A
// receiver that asks for one anyway (an older build) gets it in repair like any missing block.
// Pure: the two zero hashes of a layout (whole blocks and the last, shorter one) computed once.
#pragma once

#include <cstdint>
#include <vector>

#include "fec/layout.h"
#include "object/manifest.h"

namespace shoal::object {

class ZeroBlocks {
 public:
  explicit ZeroBlocks(const fec::BlockLayout& layout);
  // Whether `hash` is the hash of block `block`'s length of zeros.
  bool is_zero(uint32_t block, const Digest& hash) const {
    return hash == (layout_.block_bytes(block) == full_bytes_ ? full_ : last_);
  }
  // Zeros as long as the longest block (for writing one).
  const std::vector<uint8_t>& zeros() const { return zeros_; }

 private:
  fec::BlockLayout layout_;
  uint64_t full_bytes_ = 0;
  Digest full_{}, last_{};
  std::vector<uint8_t> zeros_;
};

}  // namespace shoal::object
