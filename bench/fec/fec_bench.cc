// FEC throughput: the codec against a bare ISA-L loop of the same shape, in one binary.
// Figures are source bytes per second (k * len per block), see docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <isa-l/erasure_code.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "fec/codec.h"

namespace {

using shoal::fec::Codec;

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

// n symbols of len bytes, 64-byte aligned, filled with random bytes.
struct Symbols {
  Symbols(unsigned n, size_t len)
      : storage(static_cast<uint8_t*>(std::aligned_alloc(64, size_t{n} * len))), ptrs(n) {
    std::mt19937 rng(n);
    for (size_t i = 0; i < size_t{n} * len; ++i) storage.get()[i] = static_cast<uint8_t>(rng());
    for (unsigned i = 0; i < n; ++i) ptrs[i] = storage.get() + size_t{i} * len;
  }
  std::unique_ptr<uint8_t, FreeDeleter> storage;
  std::vector<uint8_t*> ptrs;
};

struct Shape {
  unsigned k, m;
  size_t len;
  explicit Shape(const benchmark::State& s)
      : k(static_cast<unsigned>(s.range(0))),
        m(static_cast<unsigned>(s.range(1))),
        len(static_cast<size_t>(s.range(2))) {}
};

void report(benchmark::State& state, const Shape& sh) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * sh.k *
                          static_cast<int64_t>(sh.len));
}

void BM_CodecEncode(benchmark::State& state) {
  const Shape sh(state);
  auto codec = Codec::for_k(sh.k).value();
  Symbols src(sh.k, sh.len), out(sh.m, sh.len);
  for (auto _ : state) {
    auto st = codec->encode(src.ptrs.data(), sh.len, sh.k, sh.m, out.ptrs.data());
    benchmark::DoNotOptimize(st);
    benchmark::ClobberMemory();
  }
  report(state, sh);
}

// What an application writes against ISA-L directly: tables built once, ec_encode_data per block.
void BM_IsalEncode(benchmark::State& state) {
  const Shape sh(state);
  std::vector<uint8_t> matrix(size_t{sh.k + sh.m} * sh.k);
  gf_gen_cauchy1_matrix(matrix.data(), static_cast<int>(sh.k + sh.m), static_cast<int>(sh.k));
  std::vector<uint8_t> tables(32 * size_t{sh.k} * sh.m);
  ec_init_tables(static_cast<int>(sh.k), static_cast<int>(sh.m), matrix.data() + sh.k * sh.k,
                 tables.data());
  Symbols src(sh.k, sh.len), out(sh.m, sh.len);
  for (auto _ : state) {
    ec_encode_data(static_cast<int>(sh.len), static_cast<int>(sh.k), static_cast<int>(sh.m),
                   tables.data(), src.ptrs.data(), out.ptrs.data());
    benchmark::ClobberMemory();
  }
  report(state, sh);
}

// Received symbols of one block: m random sources dropped, repaired by ESIs k .. k+m-1.
struct LossPattern {
  std::vector<uint8_t> esis;
  std::vector<const uint8_t*> symbols;
  std::vector<uint8_t> missing;
};

std::vector<LossPattern> make_patterns(const Shape& sh, const Symbols& src, const Symbols& repair) {
  std::mt19937 rng(sh.k * 1000 + sh.m);
  std::vector<LossPattern> patterns(16);
  for (auto& p : patterns) {
    std::vector<uint8_t> order(sh.k);
    std::iota(order.begin(), order.end(), uint8_t{0});
    std::shuffle(order.begin(), order.end(), rng);
    p.missing.assign(order.begin(), order.begin() + sh.m);
    std::sort(p.missing.begin(), p.missing.end());
    for (unsigned j = 0; j < sh.k; ++j) {
      if (std::binary_search(p.missing.begin(), p.missing.end(), j)) continue;
      p.esis.push_back(static_cast<uint8_t>(j));
      p.symbols.push_back(src.ptrs[j]);
    }
    for (unsigned r = 0; r < sh.m; ++r) {
      p.esis.push_back(static_cast<uint8_t>(sh.k + r));
      p.symbols.push_back(repair.ptrs[r]);
    }
  }
  return patterns;
}

void BM_CodecDecode(benchmark::State& state) {
  const Shape sh(state);
  auto codec = Codec::for_k(sh.k).value();
  Symbols src(sh.k, sh.len), repair(sh.m, sh.len), out(sh.k, sh.len);
  if (!codec->encode(src.ptrs.data(), sh.len, sh.k, sh.m, repair.ptrs.data()).ok()) {
    state.SkipWithError("encode failed");
    return;
  }
  const auto patterns = make_patterns(sh, src, repair);
  size_t i = 0;
  for (auto _ : state) {
    const LossPattern& p = patterns[i++ % patterns.size()];
    auto st = codec->decode(p.esis.data(), p.symbols.data(), sh.k, sh.len, out.ptrs.data());
    benchmark::DoNotOptimize(st);
    benchmark::ClobberMemory();
  }
  report(state, sh);
}

// The ISA-L example's decode (examples/ec/ec_simple_example.c): invert the k x k sub-matrix with
// gf_invert_matrix, ec_init_tables for the missing rows, ec_encode_data. For comparison only.
void BM_IsalDecode(benchmark::State& state) {
  const Shape sh(state);
  const unsigned k = sh.k;
  std::vector<uint8_t> matrix(size_t{k + sh.m} * k);
  gf_gen_cauchy1_matrix(matrix.data(), static_cast<int>(k + sh.m), static_cast<int>(k));
  std::vector<uint8_t> tables(32 * size_t{k} * k);
  ec_init_tables(static_cast<int>(k), static_cast<int>(sh.m), matrix.data() + k * k, tables.data());
  Symbols src(k, sh.len), repair(sh.m, sh.len), out(sh.m, sh.len);
  ec_encode_data(static_cast<int>(sh.len), static_cast<int>(k), static_cast<int>(sh.m),
                 tables.data(), src.ptrs.data(), repair.ptrs.data());
  const auto patterns = make_patterns(sh, src, repair);
  std::vector<uint8_t> sub(size_t{k} * k), inverse(size_t{k} * k), decode(size_t{k} * sh.m);
  size_t i = 0;
  for (auto _ : state) {
    const LossPattern& p = patterns[i++ % patterns.size()];
    for (unsigned r = 0; r < k; ++r) {
      std::copy_n(matrix.data() + size_t{p.esis[r]} * k, k, sub.data() + size_t{r} * k);
    }
    if (gf_invert_matrix(sub.data(), inverse.data(), static_cast<int>(k)) != 0) {
      state.SkipWithError("singular");
      return;
    }
    for (unsigned e = 0; e < sh.m; ++e) {
      std::copy_n(inverse.data() + size_t{p.missing[e]} * k, k, decode.data() + size_t{e} * k);
    }
    ec_init_tables(static_cast<int>(k), static_cast<int>(sh.m), decode.data(), tables.data());
    ec_encode_data(static_cast<int>(sh.len), static_cast<int>(k), static_cast<int>(sh.m),
                   tables.data(), const_cast<uint8_t**>(p.symbols.data()), out.ptrs.data());
    benchmark::ClobberMemory();
  }
  report(state, sh);
}

// Registered shape by shape so the codec and bare ISA-L runs of a shape sit next to each other
// in time (the machine is shared; drift between distant runs would skew the ratio).
const bool kRegistered = [] {
  const std::pair<int64_t, int64_t> shapes[] = {{32, 4}, {64, 8}, {128, 16}, {200, 40}};
  for (auto [k, m] : shapes) {
    for (int64_t len : {1408, 8192}) {
      const std::vector<int64_t> args = {k, m, len};
      const std::vector<std::string> names = {"k", "m", "len"};
      benchmark::RegisterBenchmark("encode/codec", BM_CodecEncode)->Args(args)->ArgNames(names);
      benchmark::RegisterBenchmark("encode/isal", BM_IsalEncode)->Args(args)->ArgNames(names);
      benchmark::RegisterBenchmark("decode/codec", BM_CodecDecode)->Args(args)->ArgNames(names);
      benchmark::RegisterBenchmark("decode/isal_invert", BM_IsalDecode)
          ->Args(args)
          ->ArgNames(names);
    }
  }
  return true;
}();

}  // namespace
