// SymbolSource: the sender's symbols. Source symbols are pointers into the mapped object (zero
// copy); the object's last, short symbol is served from a zero-padded copy. Repair symbols are
// encoded on demand into caller buffers, any rows, any time (fresh rows for every repair step).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"
#include "fec/codec.h"
#include "fec/layout.h"

namespace shoal::session {

class SymbolSource {
 public:
  static Result<SymbolSource> make(std::span<const uint8_t> object, const fec::BlockLayout& layout);

  const fec::BlockLayout& layout() const { return layout_; }
  // Copies the last short symbol again: a piped object's last bytes arrive after make().
  void refresh_tail();
  // Source symbol j of block b (symbol_size bytes).
  const uint8_t* source(uint32_t block, unsigned j) const;
  // Encodes repair rows first_esi .. first_esi + count - 1 (all >= the block's k) of `block`
  // into out[i] (symbol_size bytes each).
  Status encode(uint32_t block, unsigned first_esi, unsigned count, uint8_t* const* out) const;

 private:
  SymbolSource() = default;
  std::span<const uint8_t> object_;
  fec::BlockLayout layout_;
  std::vector<uint8_t> padded_tail_;  // the last symbol, zero-padded; empty if it is whole
  std::shared_ptr<const fec::Codec> codec_full_, codec_last_;
};

}  // namespace shoal::session
