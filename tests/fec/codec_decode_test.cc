#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "fec/codec.h"
#include "fec_test_support.h"

namespace shoal::fec {
namespace {

using testing::SymbolSet;

constexpr uint8_t kSentinel = 0xa5;

// A block encoded with every repair row, so any ESI 0..254 can be "received".
struct EncodedBlock {
  EncodedBlock(const Codec& c, size_t len, std::mt19937& rng)
      : codec(c), src(c.k(), len), repair(c.max_repair(), len) {
    src.fill_random(rng);
    EXPECT_TRUE(c.encode(src.ptrs.data(), len, c.k(), c.max_repair(), repair.ptrs.data()).ok());
  }
  const uint8_t* symbol(unsigned esi) const {
    return esi < codec.k() ? src.ptrs[esi] : repair.ptrs[esi - codec.k()];
  }

  // Decodes from the given ESIs (in that order) and checks every missing source against the
  // original and every present source's output buffer untouched.
  void expect_decodes(const std::vector<uint8_t>& esis) const {
    const unsigned k = codec.k();
    std::vector<const uint8_t*> symbols;
    for (uint8_t e : esis) symbols.push_back(symbol(e));
    SymbolSet out(k, src.len);
    out.fill(kSentinel);
    auto st = codec.decode(esis.data(), symbols.data(), static_cast<unsigned>(esis.size()), src.len,
                           out.ptrs.data());
    ASSERT_TRUE(st.ok()) << st.error();
    std::vector<bool> present(k, false);
    for (uint8_t e : esis) {
      if (e < k) present[e] = true;
    }
    const std::vector<uint8_t> untouched(src.len, kSentinel);
    for (unsigned j = 0; j < k; ++j) {
      if (present[j]) {
        ASSERT_EQ(out.symbol(j), untouched) << "present source " << j << " was written";
      } else {
        ASSERT_EQ(out.symbol(j), src.symbol(j)) << "source " << j << " wrong";
      }
    }
  }

  const Codec& codec;
  SymbolSet src;
  SymbolSet repair;
};

std::shared_ptr<const Codec> codec(unsigned k) {
  auto c = Codec::for_k(k);
  EXPECT_TRUE(c.ok()) << c.error();
  return c.ok() ? c.value() : nullptr;
}

// Every subset of at least k of the given ESIs, each in a shuffled order.
void expect_every_pattern(unsigned k, const std::vector<uint8_t>& universe, size_t len) {
  auto c = codec(k);
  ASSERT_NE(c, nullptr);
  std::mt19937 rng(k);
  EncodedBlock block(*c, len, rng);
  const unsigned n = static_cast<unsigned>(universe.size());
  unsigned patterns = 0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (static_cast<unsigned>(__builtin_popcount(mask)) < k) continue;
    std::vector<uint8_t> esis;
    for (unsigned i = 0; i < n; ++i) {
      if (mask & (1u << i)) esis.push_back(universe[i]);
    }
    std::shuffle(esis.begin(), esis.end(), rng);
    SCOPED_TRACE(::testing::Message() << "k=" << k << " mask " << mask);
    block.expect_decodes(esis);
    ++patterns;
  }
  EXPECT_GT(patterns, 0u);
}

std::vector<uint8_t> range(unsigned from, unsigned to) {
  std::vector<uint8_t> v;
  for (unsigned i = from; i < to; ++i) v.push_back(static_cast<uint8_t>(i));
  return v;
}

TEST(CodecDecode, EveryErasurePatternK4M3) {
  expect_every_pattern(4, range(0, 7), 128);
}

TEST(CodecDecode, EveryErasurePatternK6M2) {
  expect_every_pattern(6, range(0, 8), 64);
}

TEST(CodecDecode, EveryErasurePatternWithOnDemandRowsNear254) {
  auto universe = range(0, 7);
  for (unsigned e : {250u, 252u, 253u, 254u}) universe.push_back(static_cast<uint8_t>(e));
  expect_every_pattern(4, universe, 192);
}

TEST(CodecDecode, EveryErasurePatternK1) {
  expect_every_pattern(1, {0, 1, 2, 100, 254}, 64);
}

// Random erasure patterns over many (k, m, len): drop random symbols among the first k + m,
// receive the rest (sometimes a few more than k) in random order.
TEST(CodecDecode, RandomRoundTrips) {
  std::mt19937 rng(7);
  const size_t lens[] = {64, 128, 1408, 4096, 8960};
  for (unsigned k :
       {1u, 2u, 3u, 5u, 8u, 16u, 31u, 32u, 33u, 64u, 100u, 127u, 128u, 129u, 200u, 250u, 254u}) {
    auto c = codec(k);
    ASSERT_NE(c, nullptr);
    const size_t len = k > 100 ? lens[rng() % 3] : lens[rng() % 5];
    EncodedBlock block(*c, len, rng);
    for (int trial = 0; trial < 6; ++trial) {
      const unsigned max_m = c->max_repair();
      const unsigned m = 1 + static_cast<unsigned>(rng() % std::min(max_m, 2 * k + 8));
      std::vector<uint8_t> all = range(0, k + m);
      std::shuffle(all.begin(), all.end(), rng);
      const unsigned extra = static_cast<unsigned>(rng() % (m + 1));
      all.resize(k + extra);
      SCOPED_TRACE(::testing::Message()
                   << "k=" << k << " m=" << m << " received " << all.size() << " len " << len);
      block.expect_decodes(all);
    }
  }
}

TEST(CodecDecode, AllSourcesLostUsesOnlyRepairRows) {
  std::mt19937 rng(11);
  for (unsigned k : {1u, 20u, 100u, 127u}) {
    auto c = codec(k);
    ASSERT_NE(c, nullptr);
    EncodedBlock block(*c, 256, rng);
    auto repairs = range(k, kMaxSymbols);
    std::shuffle(repairs.begin(), repairs.end(), rng);
    repairs.resize(k);
    SCOPED_TRACE(::testing::Message() << "k=" << k);
    block.expect_decodes(repairs);
  }
}

TEST(CodecDecode, MixOfOnDemandRows) {
  std::mt19937 rng(13);
  auto c = codec(200);
  ASSERT_NE(c, nullptr);
  EncodedBlock block(*c, 1408, rng);
  // Lost 25 sources, repaired by the last 25 rows (ESIs 230..254), received in reverse.
  std::vector<uint8_t> esis = range(25, 200);
  for (unsigned e = 254; e >= 230; --e) esis.push_back(static_cast<uint8_t>(e));
  block.expect_decodes(esis);
  // Sources lost at both ends, repaired by a first-pass row and rows fetched later.
  std::vector<uint8_t> mixed = range(2, 198);
  for (unsigned e : {200u, 201u, 240u, 254u}) mixed.push_back(static_cast<uint8_t>(e));
  std::shuffle(mixed.begin(), mixed.end(), rng);
  block.expect_decodes(mixed);
}

TEST(CodecDecode, AllSourcesPresentWritesNothing) {
  std::mt19937 rng(17);
  auto c = codec(16);
  ASSERT_NE(c, nullptr);
  EncodedBlock block(*c, 64, rng);
  auto esis = range(0, 16);
  esis.push_back(16);
  block.expect_decodes(esis);
  // With every source present the output array itself is never read either.
  std::vector<const uint8_t*> symbols;
  for (uint8_t e : esis) symbols.push_back(block.symbol(e));
  std::vector<uint8_t*> nulls(16, nullptr);
  EXPECT_TRUE(c->decode(esis.data(), symbols.data(), 17, 64, nulls.data()).ok());
}

// Symbols after the first k usable ones are ignored, even if they are corrupt.
TEST(CodecDecode, IgnoresSymbolsBeyondTheFirstK) {
  std::mt19937 rng(19);
  auto c = codec(10);
  ASSERT_NE(c, nullptr);
  EncodedBlock block(*c, 128, rng);
  std::vector<uint8_t> esis = {0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13};  // 3 lost, 4 repairs
  std::vector<const uint8_t*> symbols;
  for (uint8_t e : esis) symbols.push_back(block.symbol(e));
  std::vector<uint8_t> corrupt(128, 0xff);
  symbols.back() = corrupt.data();
  SymbolSet out(10, 128);
  ASSERT_TRUE(c->decode(esis.data(), symbols.data(), 11, 128, out.ptrs.data()).ok());
  for (unsigned j = 7; j < 10; ++j) EXPECT_EQ(out.symbol(j), block.src.symbol(j)) << j;
}

TEST(CodecDecode, SharedCodecDecodesConcurrently) {
  auto c = codec(48);
  ASSERT_NE(c, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> failures(3, 0);
  for (unsigned t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      EncodedBlock block(*c, 1024, rng);
      for (int i = 0; i < 50; ++i) {
        auto esis = range(0, 48 + 20);
        std::shuffle(esis.begin(), esis.end(), rng);
        esis.resize(48);
        std::vector<const uint8_t*> symbols;
        for (uint8_t e : esis) symbols.push_back(block.symbol(e));
        SymbolSet out(48, 1024);
        if (!c->decode(esis.data(), symbols.data(), 48, 1024, out.ptrs.data()).ok()) {
          ++failures[t];
          continue;
        }
        std::vector<bool> present(48, false);
        for (uint8_t e : esis) {
          if (e < 48) present[e] = true;
        }
        for (unsigned j = 0; j < 48; ++j) {
          if (!present[j] && out.symbol(j) != block.src.symbol(j)) ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (unsigned t = 0; t < failures.size(); ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST(CodecDecode, ErrorsNameTheProblem) {
  std::mt19937 rng(23);
  auto c = codec(4);
  ASSERT_NE(c, nullptr);
  EncodedBlock block(*c, 64, rng);
  SymbolSet out(4, 64);
  auto run = [&](std::vector<uint8_t> esis, size_t len) {
    std::vector<const uint8_t*> symbols;
    for (uint8_t e : esis) symbols.push_back(e < kMaxSymbols ? block.symbol(e) : block.symbol(0));
    return c->decode(esis.data(), symbols.data(), static_cast<unsigned>(esis.size()), len,
                     out.ptrs.data());
  };
  auto expect_error = [](const Status& st, const std::string& needle) {
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().find(needle), std::string::npos) << st.error();
  };
  expect_error(run({0, 1, 5}, 64), "3 symbols received, need at least k=4");
  expect_error(run({}, 64), "need at least");
  expect_error(run({0, 1, 5, 5}, 64), "duplicate ESI 5");
  expect_error(run({0, 0, 1, 2}, 64), "duplicate ESI 0");
  expect_error(run({0, 1, 2, 255}, 64), "ESI 255 out of range");
  for (size_t bad_len : {size_t{0}, size_t{32}, size_t{65}, size_t{8961}, size_t{9024}}) {
    expect_error(run({0, 1, 2, 4}, bad_len), "symbol size");
  }

  const uint8_t esis[4] = {0, 1, 2, 4};
  const uint8_t* symbols[4] = {block.symbol(0), block.symbol(1), block.symbol(2), nullptr};
  expect_error(c->decode(esis, symbols, 4, 64, out.ptrs.data()), "null buffer for ESI 4");
  symbols[3] = block.symbol(4);
  expect_error(c->decode(nullptr, symbols, 4, 64, out.ptrs.data()), "null");
  expect_error(c->decode(esis, nullptr, 4, 64, out.ptrs.data()), "null");
  expect_error(c->decode(esis, symbols, 4, 64, nullptr), "null");
  auto holes = out.ptrs;
  holes[3] = nullptr;  // source 3 is the missing one
  expect_error(c->decode(esis, symbols, 4, 64, holes.data()), "missing source ESI 3");
  holes = out.ptrs;
  holes[0] = nullptr;  // source 0 is present: its output is not needed
  EXPECT_TRUE(c->decode(esis, symbols, 4, 64, holes.data()).ok());
  EXPECT_EQ(out.symbol(3), block.src.symbol(3));
}

}  // namespace
}  // namespace shoal::fec
