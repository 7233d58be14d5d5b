// How an object is cut into FEC symbols and blocks.
//
// The object is a sequence of symbols of symbol_size bytes (the last one zero-padded to
// symbol_size on the wire), grouped into blocks of k source symbols; the last block may have fewer
// (block_k). Block b starts at byte b * k * symbol_size of the object.
#pragma once

#include <cstdint>

#include "common/result.h"

namespace shoal::fec {

struct BlockLayout {
  // Errors: symbol_size not a valid symbol size (see fec/limits.h), k not in 1..kMaxSymbols-1,
  // more than 2^32 - 1 blocks. An empty object (object_size 0) is valid and has 0 blocks.
  static Result<BlockLayout> make(uint64_t object_size, uint32_t symbol_size, unsigned k);

  uint64_t object_size() const { return object_size_; }
  uint32_t symbol_size() const { return symbol_size_; }
  unsigned k() const { return k_; }
  uint64_t symbol_count() const { return symbol_count_; }
  uint32_t block_count() const { return block_count_; }

  // Accessors below return 0 for b >= block_count().
  // Source symbols in block b: k, or fewer in the last block.
  unsigned block_k(uint32_t b) const;
  // Offset of block b in the object.
  uint64_t block_offset(uint32_t b) const;
  // Real object bytes in block b (without the zero padding of the last symbol).
  uint64_t block_bytes(uint32_t b) const;

 private:
  uint64_t object_size_ = 0;
  uint64_t symbol_count_ = 0;
  uint32_t symbol_size_ = 0;
  uint32_t block_count_ = 0;
  unsigned k_ = 0;
};

}  // namespace shoal::fec
