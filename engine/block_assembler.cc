#include "engine/block_assembler.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

namespace shoal::engine {

namespace {
bool test_bit(const uint8_t* bits, unsigned i) {
  return (bits[i >> 3] >> (i & 7)) & 1;
}
void set_bit(uint8_t* bits, unsigned i) {
  bits[i >> 3] = static_cast<uint8_t>(bits[i >> 3] | (1u << (i & 7)));
}
}  // namespace

Result<std::unique_ptr<BlockAssembler>> BlockAssembler::make(const fec::BlockLayout& layout,
                                                             size_t max_open_blocks,
                                                             SpillStore* spill) {
  if (max_open_blocks == 0) return make_error("block assembler needs room for at least one block");
  std::unique_ptr<BlockAssembler> a(new BlockAssembler(layout, max_open_blocks, spill));
  if (layout.block_count() > 0) {
    auto full = fec::Codec::for_k(layout.block_k(0));
    if (!full) return make_error(full.error());
    a->codec_full_ = *full;
    auto last = fec::Codec::for_k(layout.block_k(layout.block_count() - 1));
    if (!last) return make_error(last.error());
    a->codec_last_ = *last;
  }
  return a;
}

BlockAssembler::BlockAssembler(const fec::BlockLayout& layout, size_t max_open_blocks,
                               SpillStore* spill)
    : layout_(layout),
      max_slots_(max_open_blocks),
      slot_bytes_(size_t{2} * layout.k() * layout.symbol_size()),
      state_(static_cast<uint32_t*>(std::calloc(std::max<size_t>(layout.block_count(), 1), 4))),
      spill_(spill) {
  static_assert(kEmpty == ~uint32_t{0}, "kEmpty is stored as zero");
  if (!state_) throw std::bad_alloc();
}

Result<uint32_t> BlockAssembler::open_slot() {
  if (!free_slots_.empty()) {
    uint32_t i = free_slots_.back();
    free_slots_.pop_back();
    return i;
  }
  if (slots_.size() >= max_slots_) {
    if (!evict_one() || free_slots_.empty()) return make_error("no free block slot");
    uint32_t i = free_slots_.back();
    free_slots_.pop_back();
    return i;
  }
  void* mem = std::aligned_alloc(64, slot_bytes_);
  if (mem == nullptr) return make_error("out of memory for a block slot");
  Slot s;
  s.mem = {static_cast<uint8_t*>(mem), &std::free};
  slots_.push_back(std::move(s));
  return static_cast<uint32_t>(slots_.size() - 1);
}

BlockAssembler::Event BlockAssembler::add(uint32_t block, uint8_t esi,
                                          std::span<const uint8_t> payload) {
  if (block >= layout_.block_count() || esi >= fec::kMaxSymbols ||
      payload.size() != layout_.symbol_size()) {
    return Event::kInvalid;
  }
  uint32_t st = state(block);
  if (st == kDone) return Event::kAlreadyDone;
  if (st == kEmpty) {
    auto slot = open_slot();
    if (!slot) return Event::kNoRoom;
    st = *slot;
    set_state(block, st);
    Slot& s = slots_[st];
    std::memset(s.seen, 0, sizeof s.seen);
    s.have = s.repairs = 0;
    s.complete = false;
    ++open_;
    open_order_.push_back(block);
    if (spilled_.count(block) != 0 && !reload(block, s)) return Event::kNoRoom;
  }
  Slot& s = slots_[st];
  if (s.complete) return Event::kAlreadyDone;
  if (test_bit(s.seen, esi)) return Event::kDuplicate;
  const unsigned k = layout_.block_k(block);
  const size_t sym = layout_.symbol_size();
  if (esi < k) {
    std::memcpy(s.mem.get() + esi * sym, payload.data(), sym);
  } else {
    std::memcpy(s.mem.get() + (size_t{k} + s.repairs) * sym, payload.data(), sym);
    s.repair_esi[s.repairs++] = esi;
  }
  set_bit(s.seen, esi);
  if (++s.have < k) return Event::kStored;
  if (!decode(block, s)) {
    reset(block);
    return Event::kInvalid;
  }
  s.complete = true;
  return Event::kComplete;
}

bool BlockAssembler::decode(uint32_t block, Slot& s) {
  const unsigned k = layout_.block_k(block);
  if (s.repairs == 0) return true;  // every source symbol arrived: nothing to decode
  const size_t sym = layout_.symbol_size();
  uint8_t esis[fec::kMaxSymbols];
  const uint8_t* symbols[fec::kMaxSymbols];
  uint8_t* out[fec::kMaxSymbols];
  unsigned n = 0;
  for (unsigned j = 0; j < k; ++j) {
    out[j] = s.mem.get() + j * sym;
    if (test_bit(s.seen, j)) {
      esis[n] = static_cast<uint8_t>(j);
      symbols[n++] = out[j];
    }
  }
  for (unsigned r = 0; r < s.repairs; ++r) {
    esis[n] = s.repair_esi[r];
    symbols[n++] = s.mem.get() + (size_t{k} + r) * sym;
  }
  const fec::Codec* codec =
      block + 1 == layout_.block_count() ? codec_last_.get() : codec_full_.get();
  ++decodes_;
  return codec->decode(esis, symbols, n, sym, out).ok();
}

std::span<const uint8_t> BlockAssembler::block_data(uint32_t block) const {
  uint32_t st = state(block);
  if (st == kEmpty || st == kDone || !slots_[st].complete) return {};
  return {slots_[st].mem.get(), static_cast<size_t>(layout_.block_bytes(block))};
}

void BlockAssembler::mark_done(uint32_t block) {
  uint32_t st = state(block);
  if (st == kDone) return;
  spilled_.erase(block);
  if (st != kEmpty) {
    free_slots_.push_back(st);
    --open_;
  }
  set_state(block, kDone);
  ++blocks_done_;
}

bool BlockAssembler::evict_one() {
  if (spill_ == nullptr || !spill_error_.empty()) return false;
  while (!open_order_.empty()) {
    uint32_t b = open_order_.front();
    open_order_.pop_front();
    uint32_t st = state(b);
    if (st == kEmpty || st == kDone || slots_[st].complete) continue;  // stale entry
    Slot& s = slots_[st];
    if (!spill(b, s)) return false;
    free_slots_.push_back(st);
    --open_;
    set_state(b, kEmpty);
    return true;
  }
  return false;
}

bool BlockAssembler::spill(uint32_t block, Slot& s) {
  const unsigned k = layout_.block_k(block);
  const size_t sym = layout_.symbol_size();
  const uint64_t base = layout_.block_offset(block);
  const uint64_t end = base + layout_.block_bytes(block);
  std::array<uint8_t, 32> bits{};
  // Contiguous runs of held source symbols go out in one write each; repair symbols are
  // dropped (they are counted, and NAKed again like any lost symbol).
  unsigned j = 0;
  while (j < k) {
    if (!test_bit(s.seen, j)) {
      ++j;
      continue;
    }
    unsigned run = j;
    while (run < k && test_bit(s.seen, run)) set_bit(bits.data(), run++);
    uint64_t off = base + uint64_t{j} * sym;
    uint64_t len = std::min<uint64_t>(uint64_t{run - j} * sym, end - off);
    Status w = spill_->save(off, {s.mem.get() + size_t{j} * sym, static_cast<size_t>(len)});
    if (!w) {
      spill_error_ = w.error();
      return false;
    }
    j = run;
  }
  spill_dropped_repairs_ += s.repairs;
  spilled_[block] = bits;
  ++spills_;
  return true;
}

bool BlockAssembler::reload(uint32_t block, Slot& s) {
  auto it = spilled_.find(block);
  const std::array<uint8_t, 32> bits = it->second;
  spilled_.erase(it);
  const unsigned k = layout_.block_k(block);
  const size_t sym = layout_.symbol_size();
  const uint64_t base = layout_.block_offset(block);
  const uint64_t end = base + layout_.block_bytes(block);
  unsigned j = 0;
  while (j < k) {
    if (!test_bit(bits.data(), j)) {
      ++j;
      continue;
    }
    unsigned run = j;
    while (run < k && test_bit(bits.data(), run)) ++run;
    uint64_t off = base + uint64_t{j} * sym;
    uint64_t len = std::min<uint64_t>(uint64_t{run - j} * sym, end - off);
    uint8_t* dst = s.mem.get() + size_t{j} * sym;
    std::memset(dst, 0, size_t{run - j} * sym);  // the object's last symbol is zero-padded
    Status r = spill_->load(off, {dst, static_cast<size_t>(len)});
    if (!r) {
      spill_error_ = r.error();
      return false;
    }
    for (unsigned e = j; e < run; ++e) set_bit(s.seen, e);
    s.have = static_cast<uint16_t>(s.have + (run - j));
    j = run;
  }
  return true;
}

void BlockAssembler::reset(uint32_t block) {
  spilled_.erase(block);
  uint32_t st = state(block);
  if (st == kEmpty || st == kDone) return;
  free_slots_.push_back(st);
  --open_;
  set_state(block, kEmpty);
}

uint8_t BlockAssembler::missing(uint32_t block) const {
  uint32_t st = state(block);
  unsigned k = layout_.block_k(block);
  if (st == kDone) return 0;
  if (st == kEmpty) {
    auto it = spilled_.find(block);
    if (it == spilled_.end()) return static_cast<uint8_t>(k);
    unsigned have = 0;
    for (uint8_t byte : it->second) have += static_cast<unsigned>(std::popcount(byte));
    return static_cast<uint8_t>(k - have);
  }
  const Slot& s = slots_[st];
  return s.complete ? 0 : static_cast<uint8_t>(k - s.have);
}

}  // namespace shoal::engine
