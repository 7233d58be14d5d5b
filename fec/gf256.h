// GF(2^8) log/exp tables for the polynomial ISA-L uses (x^8 + x^4 + x^3 + x^2 + 1, generator 2).
// The codec needs them for its O(k*e) closed-form Cauchy decode matrix (see codec.cc); ISA-L does
// not export its own tables.
#pragma once

#include <cstdint>

namespace shoal::fec::gf256 {

struct Tables {
  uint8_t log[256];  // log[0] = 0 is a placeholder (0 has no logarithm); codec.cc relies on it
  uint8_t exp[765];  // exp[i] = 2^(i mod 255), three periods so sums of three logs need no modulo
};

constexpr Tables make_tables() {
  Tables t{};
  unsigned x = 1;
  for (unsigned i = 0; i < 255; ++i) {
    t.exp[i] = static_cast<uint8_t>(x);
    t.log[x] = static_cast<uint8_t>(i);
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (unsigned i = 255; i < 765; ++i) t.exp[i] = t.exp[i - 255];
  return t;
}

inline constexpr Tables kTables = make_tables();

inline constexpr uint8_t mul(uint8_t a, uint8_t b) {
  if (a == 0 || b == 0) return 0;
  return kTables.exp[kTables.log[a] + kTables.log[b]];
}

// a must be non-zero.
inline constexpr uint8_t inv(uint8_t a) {
  return kTables.exp[255 - kTables.log[a]];
}

}  // namespace shoal::fec::gf256
