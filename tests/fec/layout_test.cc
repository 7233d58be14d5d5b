#include "fec/layout.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "fec/limits.h"

namespace shoal::fec {
namespace {

// Sums of the per-block figures must rebuild the object exactly.
void expect_consistent(const BlockLayout& l) {
  uint64_t bytes = 0;
  uint64_t symbols = 0;
  for (uint32_t b = 0; b < l.block_count(); ++b) {
    EXPECT_EQ(l.block_offset(b), bytes) << "block " << b;
    EXPECT_GE(l.block_k(b), 1u);
    EXPECT_LE(l.block_k(b), l.k());
    EXPECT_GT(l.block_bytes(b), uint64_t{l.block_k(b) - 1} * l.symbol_size());
    EXPECT_LE(l.block_bytes(b), uint64_t{l.block_k(b)} * l.symbol_size());
    bytes += l.block_bytes(b);
    symbols += l.block_k(b);
  }
  EXPECT_EQ(bytes, l.object_size());
  EXPECT_EQ(symbols, l.symbol_count());
}

TEST(BlockLayout, LastBlockShortAndLastSymbolPartial) {
  // 10 blocks of 4 x 1024 would be 40960; 3 more symbols, the last one 100 bytes long.
  const uint64_t size = 10 * 4 * 1024 + 2 * 1024 + 100;
  auto l = BlockLayout::make(size, 1024, 4);
  ASSERT_TRUE(l.ok()) << l.error();
  EXPECT_EQ(l->symbol_count(), 43u);
  EXPECT_EQ(l->block_count(), 11u);
  EXPECT_EQ(l->block_k(0), 4u);
  EXPECT_EQ(l->block_k(9), 4u);
  EXPECT_EQ(l->block_k(10), 3u);
  EXPECT_EQ(l->block_offset(10), 40960u);
  EXPECT_EQ(l->block_bytes(9), 4096u);
  EXPECT_EQ(l->block_bytes(10), 2148u);
  expect_consistent(*l);
}

TEST(BlockLayout, ExactMultiples) {
  auto l = BlockLayout::make(8 * 32 * 1408, 1408, 32);
  ASSERT_TRUE(l.ok()) << l.error();
  EXPECT_EQ(l->block_count(), 8u);
  EXPECT_EQ(l->symbol_count(), 256u);
  EXPECT_EQ(l->block_k(7), 32u);
  EXPECT_EQ(l->block_bytes(7), 32u * 1408u);
  expect_consistent(*l);

  auto one_block = BlockLayout::make(64 * 5, 64, 5);
  ASSERT_TRUE(one_block.ok());
  EXPECT_EQ(one_block->block_count(), 1u);
  EXPECT_EQ(one_block->block_k(0), 5u);
  expect_consistent(*one_block);
}

TEST(BlockLayout, EmptyObjectHasNoBlocks) {
  auto l = BlockLayout::make(0, 1408, 32);
  ASSERT_TRUE(l.ok()) << l.error();
  EXPECT_EQ(l->block_count(), 0u);
  EXPECT_EQ(l->symbol_count(), 0u);
  EXPECT_EQ(l->block_k(0), 0u);
  EXPECT_EQ(l->block_bytes(0), 0u);
}

TEST(BlockLayout, OneByteObject) {
  auto l = BlockLayout::make(1, 8960, 200);
  ASSERT_TRUE(l.ok()) << l.error();
  EXPECT_EQ(l->block_count(), 1u);
  EXPECT_EQ(l->symbol_count(), 1u);
  EXPECT_EQ(l->block_k(0), 1u);
  EXPECT_EQ(l->block_offset(0), 0u);
  EXPECT_EQ(l->block_bytes(0), 1u);
}

TEST(BlockLayout, OutOfRangeBlocksReadAsEmpty) {
  auto l = BlockLayout::make(5000, 1024, 2);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->block_count(), 3u);
  EXPECT_EQ(l->block_k(3), 0u);
  EXPECT_EQ(l->block_offset(3), 0u);
  EXPECT_EQ(l->block_bytes(UINT32_MAX), 0u);
  expect_consistent(*l);
}

TEST(BlockLayout, LargestBlockCountIsAccepted) {
  // Exactly 2^32 - 1 blocks of one 64-byte symbol, the last one a single byte.
  const uint64_t size = (uint64_t{UINT32_MAX} - 1) * 64 + 1;
  auto l = BlockLayout::make(size, 64, 1);
  ASSERT_TRUE(l.ok()) << l.error();
  EXPECT_EQ(l->block_count(), UINT32_MAX);
  EXPECT_EQ(l->block_bytes(UINT32_MAX - 1), 1u);
  EXPECT_EQ(l->block_offset(UINT32_MAX - 1), size - 1);
}

TEST(BlockLayout, ErrorsNameTheProblem) {
  auto too_many = BlockLayout::make(uint64_t{UINT32_MAX} * 64 + 1, 64, 1);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().find("2^32"), std::string::npos) << too_many.error();
  auto huge = BlockLayout::make(UINT64_MAX, 64, 1);
  EXPECT_FALSE(huge.ok());

  for (uint32_t bad : {0u, 1u, 63u, 65u, 1400u, 8961u, 9024u}) {
    auto l = BlockLayout::make(1000, bad, 10);
    ASSERT_FALSE(l.ok()) << bad;
    EXPECT_NE(l.error().find("symbol size"), std::string::npos) << l.error();
  }
  for (unsigned bad_k : {0u, 255u, 1000u}) {
    auto l = BlockLayout::make(1000, 1024, bad_k);
    ASSERT_FALSE(l.ok()) << bad_k;
    EXPECT_NE(l.error().find("k="), std::string::npos) << l.error();
  }
}

TEST(SymbolSize, Validation) {
  EXPECT_TRUE(validate_symbol_size(64).ok());
  EXPECT_TRUE(validate_symbol_size(1408).ok());
  EXPECT_TRUE(validate_symbol_size(kMaxSymbolSize).ok());
  for (size_t bad : {size_t{0}, size_t{32}, size_t{100}, kMaxSymbolSize + 64, size_t{1} << 40}) {
    auto st = validate_symbol_size(bad);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.error().find(std::to_string(bad)), std::string::npos) << st.error();
  }
}

}  // namespace
}  // namespace shoal::fec
