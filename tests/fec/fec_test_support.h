// Plain references and buffers for the FEC tests. The GF(2^8) arithmetic here is deliberately
// independent of both ISA-L and fec/gf256.h: bitwise shift-and-add multiply, inverse by search.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace shoal::fec::testing {

// Multiply in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1 (0x11d), bit by bit.
inline uint8_t ref_mul(uint8_t a, uint8_t b) {
  unsigned acc = 0;
  unsigned x = a;
  for (unsigned bit = 0; bit < 8; ++bit) {
    if (b & (1u << bit)) acc ^= x;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  return static_cast<uint8_t>(acc);
}

inline uint8_t ref_inv(uint8_t a) {
  for (unsigned b = 1; b < 256; ++b) {
    if (ref_mul(a, static_cast<uint8_t>(b)) == 1) return static_cast<uint8_t>(b);
  }
  return 0;  // a == 0
}

// Coefficient (esi, j) of the systematic Cauchy generator: identity on top, 1 / (esi ^ j) below.
inline uint8_t ref_coefficient(unsigned esi, unsigned j, unsigned k) {
  if (esi < k) return esi == j ? 1 : 0;
  return ref_inv(static_cast<uint8_t>(esi ^ j));
}

// The symbol with the given ESI computed byte by byte from the k sources.
inline std::vector<uint8_t> ref_encode_symbol(const std::vector<std::vector<uint8_t>>& src,
                                              unsigned esi) {
  const unsigned k = static_cast<unsigned>(src.size());
  std::vector<uint8_t> out(src[0].size(), 0);
  for (unsigned j = 0; j < k; ++j) {
    const uint8_t c = ref_coefficient(esi, j, k);
    for (size_t b = 0; b < out.size(); ++b) out[b] ^= ref_mul(c, src[j][b]);
  }
  return out;
}

// n symbols of len bytes in one allocation, with the pointer array the codec takes.
struct SymbolSet {
  SymbolSet(unsigned n, size_t symbol_len)
      : len(symbol_len), storage(size_t{n} * symbol_len), ptrs(n) {
    for (unsigned i = 0; i < n; ++i) ptrs[i] = storage.data() + size_t{i} * len;
  }
  std::vector<uint8_t> symbol(unsigned i) const { return {ptrs[i], ptrs[i] + len}; }
  void fill_random(std::mt19937& rng) {
    for (auto& b : storage) b = static_cast<uint8_t>(rng());
  }
  void fill(uint8_t v) {
    for (auto& b : storage) b = v;
  }
  size_t len;
  std::vector<uint8_t> storage;
  std::vector<uint8_t*> ptrs;
};

}  // namespace shoal::fec::testing
