// Receiver-side block assembly: collects the symbols of each block, decodes with FEC as soon as
// k distinct symbols are in, and hands out the block's bytes for verification and writing.
// Memory is a pool of block slots (allocated on first use, reused after), capped by the caller.
// When every slot is busy, the block open longest is spilled: its source symbols go to a
// SpillStore (the receiver's output file, at their final offsets) and come back when more
// symbols of it arrive, so memory stays bounded by the slots however many blocks are incomplete.
// Not thread-safe; one per receive loop.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "fec/codec.h"
#include "fec/layout.h"

namespace shoal::engine {

// Where spilled source symbols live. Offsets are the symbol's byte offset in the object; `data`
// may be shorter than a symbol for the object's last one.
class SpillStore {
 public:
  virtual ~SpillStore() = default;
  virtual Status save(uint64_t offset, std::span<const uint8_t> data) = 0;
  virtual Status load(uint64_t offset, std::span<uint8_t> out) = 0;
};

class BlockAssembler {
 public:
  enum class Event : uint8_t {
    kStored,       // symbol kept, block still incomplete
    kComplete,     // this symbol completed the block: block_data() is ready to verify
    kDuplicate,    // this ESI is already held
    kAlreadyDone,  // block complete or written already
    kNoRoom,       // all slots busy and nowhere to spill: the symbol is dropped (NAKed later)
    kInvalid,      // block/ESI/length do not fit the layout
  };

  // max_open_blocks bounds memory at about max_open_blocks * 2 * k * symbol_size bytes.
  // spill may be null (then a full pool drops symbols of new blocks); it must outlive the
  // assembler.
  static Result<std::unique_ptr<BlockAssembler>> make(const fec::BlockLayout& layout,
                                                      size_t max_open_blocks,
                                                      SpillStore* spill = nullptr);

  Event add(uint32_t block, uint8_t esi, std::span<const uint8_t> payload);

  // The bytes of a block that add() reported complete (block_bytes long, padding excluded).
  std::span<const uint8_t> block_data(uint32_t block) const;
  // The block was verified and written: free its slot, never accept symbols for it again.
  void mark_done(uint32_t block);
  // The block failed verification: forget every symbol of it so it is received again.
  void reset(uint32_t block);

  bool done(uint32_t block) const { return state(block) == kDone; }
  // Symbols still needed before the block can be decoded (0 when complete or done).
  uint8_t missing(uint32_t block) const;
  uint32_t blocks_done() const { return blocks_done_; }
  uint32_t block_count() const { return layout_.block_count(); }
  const fec::BlockLayout& layout() const { return layout_; }
  uint64_t decodes() const { return decodes_; }
  uint64_t spills() const { return spills_; }
  uint64_t repairs_lost_to_spill() const { return spill_dropped_repairs_; }
  // A spill or reload failed (the disk): the receiver cannot go on.
  const std::string& spill_error() const { return spill_error_; }
  size_t open_blocks() const { return open_; }

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFF;
  static constexpr uint32_t kDone = 0xFFFFFFFE;

  struct Slot {
    std::unique_ptr<uint8_t[], void (*)(void*)> mem{nullptr,
                                                    nullptr};  // k source + k repair symbols
    uint8_t seen[32] = {};                                     // ESI bitmap
    uint8_t repair_esi[256] = {};
    uint16_t have = 0;
    uint16_t repairs = 0;
    bool complete = false;
  };

  BlockAssembler(const fec::BlockLayout& layout, size_t max_open_blocks, SpillStore* spill);
  Result<uint32_t> open_slot();
  bool evict_one();
  bool spill(uint32_t block, Slot& s);
  bool reload(uint32_t block, Slot& s);
  bool decode(uint32_t block, Slot& s);

  fec::BlockLayout layout_;
  size_t max_slots_;
  size_t slot_bytes_;
  // Per block: slot index, kEmpty or kDone, stored inverted in calloc'd memory so that kEmpty
  // is the zero the kernel maps on first touch: opening a session of millions of blocks writes
  // nothing up front.
  struct Free {
    void operator()(uint32_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint32_t[], Free> state_;
  uint32_t state(uint32_t block) const { return ~state_[block]; }
  void set_state(uint32_t block, uint32_t v) { state_[block] = ~v; }
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  size_t open_ = 0;
  uint32_t blocks_done_ = 0;
  uint64_t decodes_ = 0;
  std::shared_ptr<const fec::Codec> codec_full_, codec_last_;
  SpillStore* spill_;
  std::deque<uint32_t> open_order_;  // blocks in the order they were opened
  std::unordered_map<uint32_t, std::array<uint8_t, 32>> spilled_;  // block -> source ESIs on disk
  uint64_t spills_ = 0, spill_dropped_repairs_ = 0;
  std::string spill_error_;
};

}  // namespace shoal::engine
