#include "engine/block_assembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <vector>

namespace shoal::engine {
namespace {

// An object, its symbols (source and repair), and an in-memory spill store.
struct Fixture : SpillStore {
  fec::BlockLayout layout;
  std::vector<uint8_t> object;
  std::vector<uint8_t> store;  // what spills write, at object offsets
  uint64_t saves = 0, loads = 0;

  Fixture(uint64_t size, uint32_t sym, unsigned k) : layout(*fec::BlockLayout::make(size, sym, k)) {
    std::mt19937_64 rng(size);
    object.resize(size);
    for (auto& b : object) b = static_cast<uint8_t>(rng());
    store.assign(size, 0);
  }
  Status save(uint64_t offset, std::span<const uint8_t> d) override {
    EXPECT_LE(offset + d.size(), store.size());
    std::memcpy(store.data() + offset, d.data(), d.size());
    ++saves;
    return {};
  }
  Status load(uint64_t offset, std::span<uint8_t> out) override {
    std::memcpy(out.data(), store.data() + offset, out.size());
    ++loads;
    return {};
  }
  // Symbol `esi` of block b (source from the object, zero-padded; repair encoded).
  std::vector<uint8_t> symbol(uint32_t b, unsigned esi) const {
    const unsigned k = layout.block_k(b);
    const size_t sym = layout.symbol_size();
    std::vector<std::vector<uint8_t>> src(k, std::vector<uint8_t>(sym, 0));
    for (unsigned j = 0; j < k; ++j) {
      uint64_t off = layout.block_offset(b) + uint64_t{j} * sym;
      size_t n = static_cast<size_t>(std::min<uint64_t>(sym, object.size() - off));
      std::memcpy(src[j].data(), object.data() + off, n);
    }
    if (esi < k) return src[esi];
    auto codec = *fec::Codec::for_k(k);
    std::vector<const uint8_t*> ptrs;
    for (auto& s : src) ptrs.push_back(s.data());
    std::vector<uint8_t> out(sym);
    uint8_t* o = out.data();
    EXPECT_TRUE(codec->encode(ptrs.data(), sym, esi, 1, &o).ok());
    return out;
  }
  std::span<const uint8_t> block_bytes(uint32_t b) const {
    return {object.data() + layout.block_offset(b), static_cast<size_t>(layout.block_bytes(b))};
  }
};

using Event = BlockAssembler::Event;

TEST(BlockAssembler, AllSourceSymbolsCompleteWithoutDecode) {
  Fixture f(5 * 4 * 128 + 100, 128, 4);
  auto a = *BlockAssembler::make(f.layout, 8);
  for (uint32_t b = 0; b < f.layout.block_count(); ++b) {
    for (unsigned e = 0; e < f.layout.block_k(b); ++e) {
      Event ev = a->add(b, static_cast<uint8_t>(e), f.symbol(b, e));
      EXPECT_EQ(ev, e + 1 == f.layout.block_k(b) ? Event::kComplete : Event::kStored);
    }
    auto data = a->block_data(b);
    ASSERT_TRUE(
        std::equal(data.begin(), data.end(), f.block_bytes(b).begin(), f.block_bytes(b).end()));
    a->mark_done(b);
    EXPECT_EQ(a->add(b, 0, f.symbol(b, 0)), Event::kAlreadyDone);
  }
  EXPECT_EQ(a->decodes(), 0u);
  EXPECT_EQ(a->blocks_done(), f.layout.block_count());
}

TEST(BlockAssembler, DecodesFromAnyKAndRejectsBadInput) {
  Fixture f(3 * 8 * 64, 64, 8);
  auto a = *BlockAssembler::make(f.layout, 4);
  // Block 1 from repair rows only.
  for (unsigned e = 0; e < 8; ++e) {
    Event ev = a->add(1, static_cast<uint8_t>(100 + e), f.symbol(1, 100 + e));
    EXPECT_EQ(ev, e == 7 ? Event::kComplete : Event::kStored);
  }
  auto data = a->block_data(1);
  EXPECT_TRUE(
      std::equal(data.begin(), data.end(), f.block_bytes(1).begin(), f.block_bytes(1).end()));
  EXPECT_EQ(a->add(0, 3, f.symbol(0, 3)), Event::kStored);
  EXPECT_EQ(a->add(0, 3, f.symbol(0, 3)), Event::kDuplicate);
  EXPECT_EQ(a->missing(0), 7);
  EXPECT_EQ(a->add(9, 0, f.symbol(0, 0)), Event::kInvalid);            // beyond the object
  EXPECT_EQ(a->add(0, 255, f.symbol(0, 0)), Event::kInvalid);          // no such ESI
  EXPECT_EQ(a->add(0, 1, std::vector<uint8_t>(63)), Event::kInvalid);  // wrong length
  a->reset(0);
  EXPECT_EQ(a->missing(0), 8);
}

// With far fewer slots than blocks, interleaved symbols force spills; every block must still be
// rebuilt exactly, and memory never exceeds the slots.
TEST(BlockAssembler, SpillsKeepMemoryBoundedAndLoseNoSourceSymbol) {
  Fixture f(40 * 16 * 256 - 77, 256, 16);
  const uint32_t nb = f.layout.block_count();
  auto a = *BlockAssembler::make(f.layout, 3, &f);
  std::mt19937 rng(7);
  // Round robin over all blocks, one symbol each, dropping ~10%: sources first, then repair.
  std::map<uint32_t, unsigned> got;
  for (unsigned e = 0; e < 16; ++e) {
    for (uint32_t b = 0; b < nb; ++b) {
      if (e >= f.layout.block_k(b) || rng() % 10 == 0) continue;
      Event ev = a->add(b, static_cast<uint8_t>(e), f.symbol(b, e));
      ASSERT_NE(ev, Event::kNoRoom);
      ASSERT_LE(a->open_blocks(), 3u);
      if (ev == Event::kComplete) {
        auto d = a->block_data(b);
        ASSERT_TRUE(
            std::equal(d.begin(), d.end(), f.block_bytes(b).begin(), f.block_bytes(b).end()));
        a->mark_done(b);
      }
    }
  }
  EXPECT_GT(a->spills(), 0u);
  // missing() must count symbols parked on disk as held.
  for (uint32_t b = 0; b < nb; ++b) {
    if (a->done(b)) continue;
    unsigned m = a->missing(b);
    EXPECT_GT(m, 0u);
    for (unsigned r = 0; r < m; ++r) {
      Event ev = a->add(b, static_cast<uint8_t>(200 + r), f.symbol(b, 200 + r));
      ASSERT_EQ(ev, r + 1 == m ? Event::kComplete : Event::kStored) << "block " << b;
    }
    auto d = a->block_data(b);
    ASSERT_TRUE(std::equal(d.begin(), d.end(), f.block_bytes(b).begin(), f.block_bytes(b).end()));
    a->mark_done(b);
  }
  EXPECT_EQ(a->blocks_done(), nb);
  EXPECT_GT(f.loads, 0u);
}

TEST(BlockAssembler, WithoutSpillStoreAFullPoolDropsNewBlocks) {
  Fixture f(10 * 4 * 64, 64, 4);
  auto a = *BlockAssembler::make(f.layout, 2);
  EXPECT_EQ(a->add(0, 0, f.symbol(0, 0)), Event::kStored);
  EXPECT_EQ(a->add(1, 0, f.symbol(1, 0)), Event::kStored);
  EXPECT_EQ(a->add(2, 0, f.symbol(2, 0)), Event::kNoRoom);
}

}  // namespace
}  // namespace shoal::engine
