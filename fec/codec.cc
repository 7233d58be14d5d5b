#include "fec/codec.h"

#include <isa-l/erasure_code.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "fec/gf256.h"

namespace shoal::fec {
namespace {

// ISA-L 2.30 expands each coefficient to 32 bytes; later versions on GFNI CPUs use 8. The layout
// is probed at run time (see probe_isal_layout) so row offsets and decode tables follow the
// library.
constexpr size_t kMaxCoefTableBytes = 32;
// Decode builds tables for at most this many missing rows at a time: a multiple of ISA-L's 4- and
// 6-row kernels, so it costs no extra passes, and the scratch stays ~100 KB.
constexpr unsigned kDecodeRowsPerPass = 12;
constexpr size_t kDecodeScratchBytes =
    size_t{kDecodeRowsPerPass} * kMaxSymbols * kMaxCoefTableBytes;

uint8_t* alloc_aligned(size_t bytes) {
  const size_t rounded = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
  return static_cast<uint8_t*>(std::aligned_alloc(64, rounded));
}

// The expanded ISA-L table of every coefficient, so decode can gather tables instead of running
// ec_init_tables per block (about 6 ns per coefficient saved, 8000 coefficients for k=200, e=40).
struct IsalLayout {
  size_t coef_bytes = 0;  // 0: layout not recognised
  alignas(64) uint8_t coef_tables[256 * kMaxCoefTableBytes] = {};
  const uint8_t* table_of(uint8_t c) const { return coef_tables + c * coef_bytes; }
};

IsalLayout probe_isal_layout() {
  IsalLayout layout;
  uint8_t pair[2] = {0x02, 0x8e};
  uint8_t both[2 * kMaxCoefTableBytes] = {};
  uint8_t first[kMaxCoefTableBytes] = {};
  uint8_t second[kMaxCoefTableBytes] = {};
  ec_init_tables(1, 2, pair, both);
  ec_init_tables(1, 1, &pair[0], first);
  ec_init_tables(1, 1, &pair[1], second);
  for (size_t bytes : {size_t{32}, size_t{16}, size_t{8}}) {
    if (std::memcmp(both, first, bytes) == 0 && std::memcmp(both + bytes, second, bytes) == 0) {
      layout.coef_bytes = bytes;
      break;
    }
  }
  if (layout.coef_bytes == 0) return layout;
  uint8_t all[256];
  for (unsigned c = 0; c < 256; ++c) all[c] = static_cast<uint8_t>(c);
  ec_init_tables(1, 256, all, layout.coef_tables);
  return layout;
}

const IsalLayout& isal_layout() {
  static const IsalLayout layout = probe_isal_layout();
  return layout;
}

struct ScratchDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

// Per-thread decode table scratch, created on the first decode of each thread.
uint8_t* decode_scratch() {
  thread_local std::unique_ptr<uint8_t[], ScratchDeleter> scratch;
  if (!scratch) scratch.reset(alloc_aligned(kDecodeScratchBytes));
  return scratch.get();
}

// Sum of log(t ^ x) over x in set, skipping x == t: the log of prod (t + x) in GF(2^8).
// log[0] is 0, so x == t adds nothing and the loop needs no branch.
unsigned log_product(unsigned t, const uint8_t* set, unsigned count) {
  static_assert(gf256::kTables.log[0] == 0);
  unsigned sum = 0;
  for (unsigned i = 0; i < count; ++i) sum += gf256::kTables.log[t ^ set[i]];
  return sum;
}

// log(a / b) reduced to [0, 255) for a, b given as (unreduced) sums of logs.
unsigned log_ratio(unsigned log_a, unsigned log_b) {
  return (log_a % 255 + 255 - log_b % 255) % 255;
}

template <size_t kCoefBytes>
uint8_t* gather_row(uint8_t* dst, unsigned out_esi, unsigned out_weight, const uint8_t* in_esi,
                    const uint16_t* in_weight, unsigned n_in, const IsalLayout& layout,
                    size_t coef_bytes) {
  const auto& t = gf256::kTables;
  for (unsigned i = 0; i < n_in; ++i) {
    // out_weight, in_weight < 255 and 255 - log >= 1, so the index stays in 1 .. 763.
    const unsigned l = out_weight + in_weight[i] + 255u - t.log[out_esi ^ in_esi[i]];
    const uint8_t* src = layout.table_of(t.exp[l]);
    if constexpr (kCoefBytes != 0) {
      std::memcpy(dst, src, kCoefBytes);  // constant size: two vector moves, no call
      dst += kCoefBytes;
    } else {
      std::memcpy(dst, src, coef_bytes);
      dst += coef_bytes;
    }
  }
  return dst;
}

[[gnu::cold]] Status encode_error(unsigned k, const uint8_t* const* src, size_t len,
                                  unsigned first_esi, unsigned count, uint8_t* const* out) {
  if (!is_valid_symbol_size(len)) return validate_symbol_size(len);
  if (first_esi < k || first_esi > kMaxSymbols || count > kMaxSymbols - first_esi) {
    return make_error("FEC encode: repair ESIs " + std::to_string(first_esi) + ".." +
                      std::to_string(uint64_t{first_esi} + count) + " (exclusive) outside " +
                      std::to_string(k) + ".." + std::to_string(kMaxSymbols) +
                      " for k=" + std::to_string(k));
  }
  if (src == nullptr || (out == nullptr && count != 0)) {
    return make_error("FEC encode: null src or out array");
  }
  return make_error("FEC encode: null symbol buffer");
}

}  // namespace

void Codec::FreeDeleter::operator()(uint8_t* p) const {
  std::free(p);
}

Codec::Codec(unsigned k) : k_(k), row_table_bytes_(0) {}

Result<std::shared_ptr<const Codec>> Codec::for_k(unsigned k) {
  if (k == 0 || k >= kMaxSymbols) {
    return make_error("bad FEC k=" + std::to_string(k) + ": source symbols per block must be 1.." +
                      std::to_string(kMaxSymbols - 1) +
                      " (k + repair symbols <= " + std::to_string(kMaxSymbols) + ")");
  }
  struct Cache {
    std::mutex mu;
    std::array<std::shared_ptr<const Codec>, kMaxSymbols> by_k;
  };
  static auto* cache =
      new Cache;  // never destroyed: safe to use from threads still running at exit
  std::lock_guard lock(cache->mu);
  auto& slot = cache->by_k[k];
  if (!slot) {
    auto built = build(k);
    if (!built.ok()) return built;
    slot = std::move(built.value());
  }
  return slot;
}

Result<std::shared_ptr<const Codec>> Codec::build(unsigned k) {
  const IsalLayout& layout = isal_layout();
  if (layout.coef_bytes == 0) {
    return make_error(
        "FEC: unrecognised ISA-L ec_init_tables layout (expected 32, 16 or 8 bytes "
        "per coefficient); this ISA-L version is not supported");
  }
  std::shared_ptr<Codec> c(new Codec(k));
  const unsigned rows = kMaxSymbols - k;
  c->row_table_bytes_ = layout.coef_bytes * k;
  c->generator_.reset(alloc_aligned(size_t{kMaxSymbols} * k));
  c->repair_tables_.reset(alloc_aligned(c->row_table_bytes_ * rows));
  if (!c->generator_ || !c->repair_tables_)
    return make_error("FEC: out of memory for k=" + std::to_string(k));

  uint8_t* gen = c->generator_.get();
  gf_gen_cauchy1_matrix(gen, static_cast<int>(kMaxSymbols), static_cast<int>(k));
  // decode() uses the closed-form inverse of 1 / (esi ^ j); make sure that is what ISA-L built.
  for (unsigned r = k; r < kMaxSymbols; ++r) {
    for (unsigned j = 0; j < k; ++j) {
      if (gen[r * k + j] != gf256::inv(static_cast<uint8_t>(r ^ j))) {
        return make_error(
            "FEC: ISA-L gf_gen_cauchy1_matrix is not 1/(i^j) over GF(2^8)/0x11d; "
            "this ISA-L version is not supported");
      }
    }
  }
  uint8_t* tables = c->repair_tables_.get();
  ec_init_tables(static_cast<int>(k), static_cast<int>(rows), gen + size_t{k} * k, tables);
  // On-demand rows (pointer offsets) and decode (gathered tables) both rely on one table block
  // per coefficient, row-major; check it once here rather than trust it.
  for (size_t i = 0; i < size_t{rows} * k; ++i) {
    if (std::memcmp(tables + i * layout.coef_bytes, layout.table_of(gen[k * k + i]),
                    layout.coef_bytes) != 0) {
      return make_error(
          "FEC: ISA-L ec_init_tables is not one block per coefficient, row-major; "
          "this ISA-L version is not supported");
    }
  }
  return std::shared_ptr<const Codec>(std::move(c));
}

Status Codec::encode(const uint8_t* const* src, size_t len, unsigned first_esi, unsigned count,
                     uint8_t* const* out) const {
  bool ok = is_valid_symbol_size(len) && first_esi >= k_ && first_esi <= kMaxSymbols &&
            count <= kMaxSymbols - first_esi && src != nullptr && (out != nullptr || count == 0);
  if (ok) {
    for (unsigned i = 0; i < k_; ++i) ok &= src[i] != nullptr;
    for (unsigned i = 0; i < count; ++i) ok &= out[i] != nullptr;
  }
  if (!ok) [[unlikely]] {
    return encode_error(k_, src, len, first_esi, count, out);
  }
  if (count == 0) return Status::success();
  // ISA-L takes non-const pointers but only reads the sources and the tables.
  uint8_t* table = repair_tables_.get() + (first_esi - k_) * row_table_bytes_;
  ec_encode_data(static_cast<int>(len), static_cast<int>(k_), static_cast<int>(count), table,
                 const_cast<uint8_t**>(src), const_cast<uint8_t**>(out));
  return Status::success();
}

// Decode, for e missing sources M, the chosen repairs R and the present sources P:
// every repair y_r = sum_j x_j / (r + j), so z_r = y_r + sum_{p in P} x_p / (r + p) is a Cauchy
// system in the x_m. Solving it by partial fractions (residues of sum_m x_m / (t + m)) gives
//   x_m = sum over inputs t in P u R of  beta_m * w_t / (m + t)   (GF(2^8), + is xor) with
//   w_t    = prod_{m' in M} (t + m') / prod_{r in R, r != t} (t + r),
//   beta_m = prod_{r in R} (m + r) / prod_{m' in M, m' != m} (m + m').
// That is O(k * e) field operations instead of the O(k^3) gf_invert_matrix of the k x k
// sub-matrix (42 ms for k=200 on this project's test machine, 150x the data pass). The tests
// check it by round trips over every erasure pattern of small codes and random ones up to k=254.
Status Codec::decode(const uint8_t* esis, const uint8_t* const* symbols, unsigned n, size_t len,
                     uint8_t* const* source_out) const {
  if (!is_valid_symbol_size(len)) return validate_symbol_size(len);
  if (n < k_) {
    return make_error("FEC decode: " + std::to_string(n) +
                      " symbols received, need at least k=" + std::to_string(k_));
  }
  if (esis == nullptr || symbols == nullptr || source_out == nullptr) {
    return make_error("FEC decode: null esis, symbols or source_out array");
  }
  uint64_t seen[4] = {};
  unsigned present = 0;
  for (unsigned i = 0; i < n; ++i) {
    const unsigned esi = esis[i];
    if (esi >= kMaxSymbols) {
      return make_error("FEC decode: ESI " + std::to_string(esi) + " out of range 0.." +
                        std::to_string(kMaxSymbols - 1));
    }
    const uint64_t bit = uint64_t{1} << (esi & 63);
    if (seen[esi >> 6] & bit) return make_error("FEC decode: duplicate ESI " + std::to_string(esi));
    seen[esi >> 6] |= bit;
    if (symbols[i] == nullptr) {
      return make_error("FEC decode: null buffer for ESI " + std::to_string(esi));
    }
    present += esi < k_ ? 1u : 0u;
  }
  const unsigned e = k_ - present;
  if (e == 0) return Status::success();

  // Inputs: all received sources plus the first e repairs. n >= k distinct ESIs guarantee k inputs.
  std::array<const uint8_t*, kMaxSymbols> in;
  std::array<uint8_t, kMaxSymbols> in_esi;
  std::array<uint8_t, kMaxSymbols> repair_esi;
  unsigned n_in = 0;
  unsigned n_repair = 0;
  for (unsigned i = 0; i < n && n_in < k_; ++i) {
    if (esis[i] >= k_) {
      if (n_repair == e) continue;
      repair_esi[n_repair++] = esis[i];
    }
    in[n_in] = symbols[i];
    in_esi[n_in++] = esis[i];
  }
  std::array<uint8_t, kMaxSymbols> missing;
  std::array<uint8_t*, kMaxSymbols> out;
  unsigned n_missing = 0;
  for (unsigned j = 0; j < k_; ++j) {
    if (seen[j >> 6] & (uint64_t{1} << (j & 63))) continue;
    if (source_out[j] == nullptr) {
      return make_error("FEC decode: null output buffer for missing source ESI " +
                        std::to_string(j));
    }
    out[n_missing] = source_out[j];
    missing[n_missing++] = static_cast<uint8_t>(j);
  }

  std::array<uint16_t, kMaxSymbols> in_weight;
  std::array<uint16_t, kMaxSymbols> missing_weight;
  for (unsigned i = 0; i < n_in; ++i) {
    in_weight[i] = static_cast<uint16_t>(log_ratio(log_product(in_esi[i], missing.data(), e),
                                                   log_product(in_esi[i], repair_esi.data(), e)));
  }
  for (unsigned j = 0; j < e; ++j) {
    missing_weight[j] = static_cast<uint16_t>(log_ratio(
        log_product(missing[j], repair_esi.data(), e), log_product(missing[j], missing.data(), e)));
  }

  uint8_t* scratch = decode_scratch();
  if (scratch == nullptr) return make_error("FEC decode: out of memory for the decode scratch");
  const IsalLayout& layout = isal_layout();
  for (unsigned first = 0; first < e; first += kDecodeRowsPerPass) {
    const unsigned rows = e - first < kDecodeRowsPerPass ? e - first : kDecodeRowsPerPass;
    uint8_t* dst = scratch;
    for (unsigned j = first; j < first + rows; ++j) {
      dst = layout.coef_bytes == 32
                ? gather_row<32>(dst, missing[j], missing_weight[j], in_esi.data(),
                                 in_weight.data(), n_in, layout, 32)
                : gather_row<0>(dst, missing[j], missing_weight[j], in_esi.data(), in_weight.data(),
                                n_in, layout, layout.coef_bytes);
    }
    ec_encode_data(static_cast<int>(len), static_cast<int>(k_), static_cast<int>(rows), scratch,
                   const_cast<uint8_t**>(in.data()), out.data() + first);
  }
  return Status::success();
}

}  // namespace shoal::fec
