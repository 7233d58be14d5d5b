#include "session/symbol_source.h"

#include <cstring>

namespace shoal::session {

Result<SymbolSource> SymbolSource::make(std::span<const uint8_t> object,
                                        const fec::BlockLayout& layout) {
  if (object.size() != layout.object_size())
    return make_error("object size does not match the layout");
  SymbolSource s;
  s.object_ = object;
  s.layout_ = layout;
  if (layout.block_count() == 0) return s;
  s.refresh_tail();
  auto full = fec::Codec::for_k(layout.block_k(0));
  if (!full) return make_error(full.error());
  auto last = fec::Codec::for_k(layout.block_k(layout.block_count() - 1));
  if (!last) return make_error(last.error());
  s.codec_full_ = *full;
  s.codec_last_ = *last;
  return s;
}

void SymbolSource::refresh_tail() {
  const uint64_t tail = layout_.object_size() % layout_.symbol_size();
  if (tail == 0 || layout_.block_count() == 0) return;
  padded_tail_.assign(layout_.symbol_size(), 0);
  std::memcpy(padded_tail_.data(), object_.data() + object_.size() - tail, tail);
}

const uint8_t* SymbolSource::source(uint32_t block, unsigned j) const {
  uint64_t off = layout_.block_offset(block) + uint64_t{j} * layout_.symbol_size();
  if (!padded_tail_.empty() && off + layout_.symbol_size() > object_.size())
    return padded_tail_.data();
  return object_.data() + off;
}

Status SymbolSource::encode(uint32_t block, unsigned first_esi, unsigned count,
                            uint8_t* const* out) const {
  const unsigned k = layout_.block_k(block);
  const uint8_t* src[fec::kMaxSymbols];
  for (unsigned j = 0; j < k; ++j) src[j] = source(block, j);
  const fec::Codec& c = block + 1 == layout_.block_count() ? *codec_last_ : *codec_full_;
  return c.encode(src, layout_.symbol_size(), first_esi, count, out);
}

}  // namespace shoal::session
