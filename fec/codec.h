// Systematic Reed-Solomon codec over GF(2^8) on ISA-L, Cauchy generator.
//
// Symbol index (ESI) convention inside a block of k source symbols:
//   0 .. k-1     source symbols (the generator's top k rows are the identity),
//   k .. 254     repair symbols, row esi of gf_gen_cauchy1_matrix: coefficient 1 / (esi ^ j).
// Any k distinct symbols of a block reconstruct it.
//
// Threading: a Codec is immutable after construction; share it freely between threads.
// Buffers: every symbol is `len` bytes, len a multiple of kSymbolAlign (64) up to kMaxSymbolSize;
// no alignment is required (64-byte alignment is faster). Inputs and outputs must not overlap.
// Errors: impossible parameters return a Status with a message; nothing here throws or aborts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "fec/limits.h"

namespace shoal::fec {

class Codec {
 public:
  // Process-wide cached codec for k source symbols per block, 1 <= k <= kMaxSymbols - 1 (at least
  // one repair row must remain). Built once per k (about 32 * k * (255 - k) bytes of tables, at
  // most 520 KB; 88 MB if a process used every k) and kept for the life of the process.
  // Thread-safe.
  static Result<std::shared_ptr<const Codec>> for_k(unsigned k);

  unsigned k() const { return k_; }
  // Number of repair rows: ESIs k .. k + max_repair() - 1 = 254.
  unsigned max_repair() const { return kMaxSymbols - k_; }

  // Writes the repair symbols with ESIs first_esi .. first_esi + count - 1 into out[0 .. count).
  // src[0 .. k) are the k source symbols. Any contiguous range of repair rows costs the same as the
  // first rows: repair symbols can be generated on demand, in any number of calls, without
  // re-encoding earlier ones. count == 0 is a no-op.
  // Errors: bad len, first_esi < k, first_esi + count > kMaxSymbols, null arrays or buffers.
  // Checks: a few compares and a null test per pointer; no allocation. Then one ec_encode_data
  // call with an offset into the cached table, exactly what a bare ISA-L loop would do.
  Status encode(const uint8_t* const* src, size_t len, unsigned first_esi, unsigned count,
                uint8_t* const* out) const;

  // Reconstructs the missing source symbols of a block from n >= k received symbols: symbols[i] is
  // the symbol with ESI esis[i]. For every source ESI j < k that is not among esis, writes the
  // symbol to source_out[j] (source_out has k entries; the entries of received sources are neither
  // read nor written and may be null). Uses every received source symbol plus the first repair
  // symbols in array order until it has k; further symbols are ignored.
  // Errors: bad len, n < k, an ESI >= kMaxSymbols, a duplicate ESI, null arrays or buffers.
  // Allocation: none per call (one lazily created ~100 KB scratch per calling thread).
  // Cost: O(k * e) to build the decode matrix for e missing sources (closed-form Cauchy inverse,
  // not Gaussian elimination), then one ec_encode_data pass of e rows over k inputs.
  Status decode(const uint8_t* esis, const uint8_t* const* symbols, unsigned n, size_t len,
                uint8_t* const* source_out) const;

  // The generator row of an ESI (k coefficients), for tests and diagnostics. esi < kMaxSymbols.
  const uint8_t* generator_row(unsigned esi) const { return generator_.get() + size_t{esi} * k_; }

  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

 private:
  struct FreeDeleter {
    void operator()(uint8_t* p) const;
  };
  using Buffer = std::unique_ptr<uint8_t[], FreeDeleter>;

  explicit Codec(unsigned k);
  static Result<std::shared_ptr<const Codec>> build(unsigned k);

  unsigned k_;
  size_t row_table_bytes_;  // ISA-L table bytes for one generator row (k coefficients)
  Buffer generator_;        // kMaxSymbols x k, row-major, top k rows identity
  Buffer repair_tables_;    // ec_init_tables for rows k .. 254, rows contiguous
};

}  // namespace shoal::fec
