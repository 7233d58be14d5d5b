#include "session/receiver_core.h"

#include "engine/wire.h"
#include "session/manifest.h"

namespace shoal::session {

Result<std::unique_ptr<ReceiverCore>> ReceiverCore::make(const control::Session& s,
                                                         std::vector<control::Digest> hashes,
                                                         ObjectSink sink, size_t max_open_blocks) {
  auto layout = fec::BlockLayout::make(s.object_size, s.symbol_size, s.k);
  if (!layout) return make_error("sender sent an unusable session layout: " + layout.error());
  if (layout->block_count() != s.block_count || hashes.size() != s.block_count) {
    return make_error("sender's manifest does not match its layout (" +
                      std::to_string(hashes.size()) + " block hashes for " +
                      std::to_string(layout->block_count()) + " blocks)");
  }
  std::unique_ptr<ReceiverCore> core(
      new ReceiverCore(s, std::move(hashes), std::move(sink), *layout));
  auto a = engine::BlockAssembler::make(*layout, max_open_blocks);
  if (!a) return make_error(a.error());
  core->assembler_ = std::move(*a);
  return core;
}

ReceiverCore::ReceiverCore(const control::Session& s, std::vector<control::Digest> hashes,
                           ObjectSink sink, fec::BlockLayout layout)
    : session_id_(s.session_id),
      layout_(layout),
      block_sha256_(std::move(hashes)),
      object_sha256_(s.object_sha256),
      sink_(std::move(sink)) {}

Status ReceiverCore::on_datagram(std::span<const uint8_t> datagram) {
  ++stats_.frames_received;
  auto parsed = engine::parse_frame(datagram);
  if (!parsed) {
    ++stats_.frames_rejected;
    return {};
  }
  const engine::FrameHeader& h = parsed->header;
  if (h.type != engine::kFrameData || h.session != session_id_ || h.object != 0 ||
      h.block >= layout_.block_count() || h.k != layout_.block_k(h.block)) {
    ++stats_.frames_foreign;
    return {};
  }
  return add_symbol(h.block, h.esi, parsed->payload, false);
}

Status ReceiverCore::on_repair(const control::Repair& r) {
  if (r.block >= layout_.block_count())
    return make_error("sender sent repair for a block beyond the object");
  return add_symbol(r.block, r.esi, r.payload, true);
}

Status ReceiverCore::add_symbol(uint32_t block, uint8_t esi, std::span<const uint8_t> payload,
                                bool unicast) {
  using Event = engine::BlockAssembler::Event;
  Event ev = assembler_->add(block, esi, payload);
  switch (ev) {
    case Event::kDuplicate:
    case Event::kAlreadyDone:
      ++stats_.frames_useless;
      return {};
    case Event::kNoRoom:
      ++stats_.no_room_drops;
      return {};
    case Event::kInvalid:
      ++stats_.frames_foreign;
      return {};
    case Event::kStored:
    case Event::kComplete:
      break;
  }
  if (unicast)
    ++stats_.symbols_unicast_repair;
  else if (esi >= layout_.block_k(block))
    ++stats_.symbols_multicast_repair;
  if (ev != Event::kComplete) return {};

  auto data = assembler_->block_data(block);
  if (sha256(data) != block_sha256_[block]) {
    // A forged or corrupted symbol slipped past the CRC: drop the whole block, ask for it again.
    ++stats_.block_hash_failures;
    assembler_->reset(block);
    return {};
  }
  Status w = sink_.write(layout_.block_offset(block), data);
  if (!w) return w;
  stats_.bytes_written += data.size();
  Status h = hash_in_order(block, data);
  assembler_->mark_done(block);
  return h;
}

Status ReceiverCore::hash_in_order(uint32_t written, std::span<const uint8_t> data) {
  if (written != hashed_blocks_) return {};  // ahead of a gap: hashed when the gap fills
  whole_.update(data);
  ++hashed_blocks_;
  while (hashed_blocks_ < layout_.block_count() && assembler_->done(hashed_blocks_)) {
    const uint32_t b = hashed_blocks_;
    readback_.resize(layout_.block_bytes(b));
    Status r = sink_.read(layout_.block_offset(b), readback_);
    if (!r) return r;
    whole_.update(readback_);
    ++hashed_blocks_;
  }
  return {};
}

Status ReceiverCore::commit() {
  if (!complete() || hashed_blocks_ != layout_.block_count()) {
    return make_error("internal: commit before every block was written");
  }
  if (whole_.finish() != object_sha256_) {
    return make_error(
        "whole-object SHA-256 mismatch: the object was not kept (every block matched its own hash, "
        "so the sender's manifest is inconsistent)");
  }
  return sink_.commit();
}

control::Nak ReceiverCore::make_nak(uint32_t pass) const {
  std::vector<uint32_t> missing(layout_.block_count());
  for (uint32_t b = 0; b < layout_.block_count(); ++b) missing[b] = assembler_->missing(b);
  return control::build_nak(pass, missing, stats_.frames_received, stats_.frames_rejected).nak;
}

}  // namespace shoal::session
