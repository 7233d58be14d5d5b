#include <gtest/gtest.h>
#include <isa-l/erasure_code.h>

#include <random>
#include <thread>
#include <vector>

#include "fec/codec.h"
#include "fec_test_support.h"

namespace shoal::fec {
namespace {

using testing::ref_coefficient;
using testing::ref_encode_symbol;
using testing::SymbolSet;

std::shared_ptr<const Codec> codec(unsigned k) {
  auto c = Codec::for_k(k);
  EXPECT_TRUE(c.ok()) << c.error();
  return c.ok() ? c.value() : nullptr;
}

std::vector<std::vector<uint8_t>> as_vectors(const SymbolSet& s) {
  std::vector<std::vector<uint8_t>> v;
  for (unsigned i = 0; i < s.ptrs.size(); ++i) v.push_back(s.symbol(i));
  return v;
}

TEST(Codec, RejectsImpossibleK) {
  for (unsigned k : {0u, 255u, 256u, 100000u}) {
    auto c = Codec::for_k(k);
    ASSERT_FALSE(c.ok()) << k;
    EXPECT_NE(c.error().find("k=" + std::to_string(k)), std::string::npos) << c.error();
  }
  auto c = Codec::for_k(254);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c.value()->k(), 254u);
  EXPECT_EQ(c.value()->max_repair(), 1u);
}

TEST(Codec, IsCachedPerKAcrossThreads) {
  std::vector<std::shared_ptr<const Codec>> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&got, t] { got[t] = Codec::for_k(37).value(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& c : got) EXPECT_EQ(c.get(), got[0].get());
  EXPECT_EQ(got[0]->k(), 37u);
  EXPECT_NE(Codec::for_k(38).value().get(), got[0].get());
}

TEST(Codec, GeneratorIsSystematicCauchy) {
  for (unsigned k : {1u, 4u, 32u, 200u, 254u}) {
    auto c = codec(k);
    ASSERT_NE(c, nullptr);
    std::vector<uint8_t> isal(size_t{kMaxSymbols} * k);
    gf_gen_cauchy1_matrix(isal.data(), static_cast<int>(kMaxSymbols), static_cast<int>(k));
    for (unsigned esi = 0; esi < kMaxSymbols; ++esi) {
      for (unsigned j = 0; j < k; ++j) {
        ASSERT_EQ(c->generator_row(esi)[j], ref_coefficient(esi, j, k)) << esi << "," << j;
        ASSERT_EQ(c->generator_row(esi)[j], isal[size_t{esi} * k + j]) << esi << "," << j;
      }
    }
  }
}

// SIMD output against the bitwise reference and against ISA-L's own scalar ec_encode_data_base.
TEST(CodecEncode, MatchesScalarReferences) {
  std::mt19937 rng(1);
  struct Case {
    unsigned k, first_esi, count;
    size_t len;
  };
  for (const Case& cs : {Case{1, 1, 4, 64}, Case{4, 4, 3, 128}, Case{10, 10, 6, 1408},
                         Case{32, 32, 4, 8960}, Case{64, 200, 55, 192}, Case{200, 220, 35, 64},
                         Case{128, 128, 127, 64}, Case{254, 254, 1, 8960}, Case{7, 250, 5, 576}}) {
    SCOPED_TRACE(::testing::Message() << "k=" << cs.k << " esi " << cs.first_esi << "+" << cs.count
                                      << " len " << cs.len);
    auto c = codec(cs.k);
    ASSERT_NE(c, nullptr);
    SymbolSet src(cs.k, cs.len);
    src.fill_random(rng);
    SymbolSet out(cs.count, cs.len);
    ASSERT_TRUE(c->encode(src.ptrs.data(), cs.len, cs.first_esi, cs.count, out.ptrs.data()).ok());

    // ISA-L scalar path with tables built from gf_gen_cauchy1_matrix for exactly these rows.
    std::vector<uint8_t> matrix(size_t{kMaxSymbols} * cs.k);
    gf_gen_cauchy1_matrix(matrix.data(), static_cast<int>(kMaxSymbols), static_cast<int>(cs.k));
    std::vector<uint8_t> tables(32 * size_t{cs.k} * cs.count);
    ec_init_tables(static_cast<int>(cs.k), static_cast<int>(cs.count),
                   matrix.data() + size_t{cs.first_esi} * cs.k, tables.data());
    SymbolSet base(cs.count, cs.len);
    ec_encode_data_base(static_cast<int>(cs.len), static_cast<int>(cs.k),
                        static_cast<int>(cs.count), tables.data(), src.ptrs.data(),
                        base.ptrs.data());
    EXPECT_EQ(out.storage, base.storage);

    const auto sources = as_vectors(src);
    for (unsigned r = 0; r < cs.count; ++r) {
      ASSERT_EQ(out.symbol(r), ref_encode_symbol(sources, cs.first_esi + r)) << "row " << r;
    }
  }
}

TEST(CodecEncode, OnDemandRowsEqualOneBigCall) {
  std::mt19937 rng(2);
  for (unsigned k : {3u, 32u, 100u, 200u}) {
    auto c = codec(k);
    ASSERT_NE(c, nullptr);
    const size_t len = 1408;
    const unsigned all = c->max_repair();
    SymbolSet src(k, len);
    src.fill_random(rng);
    SymbolSet big(all, len);
    ASSERT_TRUE(c->encode(src.ptrs.data(), len, k, all, big.ptrs.data()).ok());

    // The same rows in uneven pieces: first m, then more on demand, ending at ESI 254.
    SymbolSet pieces(all, len);
    pieces.fill(0x5a);
    unsigned done = 0;
    for (unsigned step = 1; done < all; step = step * 3 + 1) {
      const unsigned count = std::min(step, all - done);
      ASSERT_TRUE(c->encode(src.ptrs.data(), len, k + done, count, pieces.ptrs.data() + done).ok());
      done += count;
    }
    EXPECT_EQ(pieces.storage, big.storage) << "k=" << k;
  }
}

TEST(CodecEncode, ZeroCountIsANoOp) {
  auto c = codec(8);
  ASSERT_NE(c, nullptr);
  SymbolSet src(8, 64);
  EXPECT_TRUE(c->encode(src.ptrs.data(), 64, 8, 0, nullptr).ok());
  EXPECT_TRUE(c->encode(src.ptrs.data(), 64, kMaxSymbols, 0, nullptr).ok());
  EXPECT_FALSE(c->encode(src.ptrs.data(), 64, kMaxSymbols + 1, 0, nullptr).ok());
}

TEST(CodecEncode, ErrorsNameTheProblem) {
  auto c = codec(10);
  ASSERT_NE(c, nullptr);
  SymbolSet src(10, 128);
  SymbolSet out(10, 128);
  auto expect_error = [](const Status& st, const std::string& needle) {
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().find(needle), std::string::npos) << st.error();
  };
  for (size_t bad_len : {size_t{0}, size_t{63}, size_t{100}, size_t{8961}, size_t{9024}}) {
    expect_error(c->encode(src.ptrs.data(), bad_len, 10, 1, out.ptrs.data()), "symbol size");
  }
  expect_error(c->encode(src.ptrs.data(), 128, 9, 1, out.ptrs.data()), "ESIs 9..10");
  expect_error(c->encode(src.ptrs.data(), 128, 0, 1, out.ptrs.data()), "outside");
  expect_error(c->encode(src.ptrs.data(), 128, 250, 6, out.ptrs.data()), "outside 10..255");
  expect_error(c->encode(src.ptrs.data(), 128, 256, 1, out.ptrs.data()), "outside");
  expect_error(c->encode(src.ptrs.data(), 128, 11, UINT32_MAX, out.ptrs.data()), "outside");
  expect_error(c->encode(nullptr, 128, 10, 1, out.ptrs.data()), "null");
  expect_error(c->encode(src.ptrs.data(), 128, 10, 1, nullptr), "null");
  auto holes = src.ptrs;
  holes[9] = nullptr;
  expect_error(c->encode(holes.data(), 128, 10, 1, out.ptrs.data()), "null");
  auto out_holes = out.ptrs;
  out_holes[2] = nullptr;
  expect_error(c->encode(src.ptrs.data(), 128, 10, 3, out_holes.data()), "null");
}

}  // namespace
}  // namespace shoal::fec
