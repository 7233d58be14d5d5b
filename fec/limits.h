// Limits of the Reed-Solomon code and of the symbols it carries.
#pragma once

#include <cstddef>

#include "common/result.h"

namespace shoal::fec {

// GF(2^8) gives at most 255 distinct Cauchy rows: k source + repair symbols per block, ESIs 0..254.
inline constexpr unsigned kMaxSymbols = 255;
// ISA-L's widest kernels (AVX-512) work in 64-byte lanes; symbols are whole lanes.
inline constexpr size_t kSymbolAlign = 64;
// Largest multiple of 64 the wire format carries (frame payloads of up to 9000 bytes). What a path
// carries is less: on a 9000-byte MTU, 8896 (header, tag, IPv4 and UDP take 76 bytes); the sender
// checks its symbol size against the interface's MTU at start (engine/frame_fit.h).
inline constexpr size_t kMaxSymbolSize = 8960;

inline constexpr bool is_valid_symbol_size(size_t len) {
  return len != 0 && len % kSymbolAlign == 0 && len <= kMaxSymbolSize;
}

// ok() when len is a non-zero multiple of kSymbolAlign no larger than kMaxSymbolSize.
Status validate_symbol_size(size_t len);

}  // namespace shoal::fec
