#include "session/receiver_core.h"

#include <unistd.h>

#include <chrono>

#include "engine/wire.h"
#include "object/manifest.h"

namespace shoal::session {

namespace {
constexpr uint32_t kNoBlock = 0xFFFFFFFF;
}  // namespace

Result<std::unique_ptr<ReceiverCore>> ReceiverCore::make(
    const control::Session& s, std::vector<control::Digest> hashes, ObjectSink sink,
    size_t max_open_blocks, std::string state_path, const ResumeState* resume, SyncPolicy sync) {
  auto layout = fec::BlockLayout::make(s.object_size, s.symbol_size, s.k);
  if (!layout) return make_error("sender sent an unusable session layout: " + layout.error());
  if (layout->block_count() != s.block_count || hashes.size() != s.block_count) {
    return make_error("sender's manifest does not match its layout (" +
                      std::to_string(hashes.size()) + " block hashes for " +
                      std::to_string(layout->block_count()) + " blocks)");
  }
  std::unique_ptr<ReceiverCore> core(
      new ReceiverCore(s, std::move(hashes), std::move(sink), *layout));
  auto a = engine::BlockAssembler::make(*layout, max_open_blocks, core.get());
  if (!a) return make_error(a.error());
  core->assembler_ = std::move(*a);
  core->state_.id = object_id(s, core->block_sha256_);
  core->state_.object_size = s.object_size;
  core->state_.block_count = s.block_count;
  core->state_.verified.assign((size_t{s.block_count} + 7) / 8, 0);
  if (resume != nullptr) {
    if (resume->id != core->state_.id || resume->block_count != s.block_count) {
      return make_error("resume state '" + state_path +
                        "' belongs to a different object: remove it and the partial "
                        "data beside it, or choose another --out");
    }
    for (uint32_t b = 0; b < s.block_count; ++b) {
      if (!resume->has(b)) continue;
      core->assembler_->mark_done(b);
      core->state_.set(b);
      ++core->resumed_;
    }
    core->checkpointed_ = core->resumed_ > 0;
    // Catch the whole-object hash up over the blocks already on disk.
    Status h = core->hash_in_order(kNoBlock, {});
    if (!h) return make_error(h.error());
  }
  core->state_path_ = std::move(state_path);
  core->periodic_flush_ = sync == SyncPolicy::kPeriodic;
  core->sync_end_ = sync != SyncPolicy::kNone;
  if (!core->state_path_.empty() || core->periodic_flush_) {
    ReceiverCore* c = core.get();
    core->checkpointer_ = std::thread([c] { c->checkpoint_loop(); });
  }
  return core;
}

ReceiverCore::~ReceiverCore() {
  stop_checkpoints();
}

void ReceiverCore::checkpoint_loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
    if (stop_ || !state_dirty_) continue;
    lock.unlock();
    Status st = checkpoint();
    lock.lock();
    (void)st;  // a failed checkpoint costs only resume precision; the next one retries
  }
}

Status ReceiverCore::checkpoint() {
  ResumeState snap;
  {
    std::lock_guard lock(mu_);
    snap = state_;
    state_dirty_ = false;
  }
  Status f = sink_.flush();  // the data first: the state may only name durable blocks
  if (!f) return f;
  if (state_path_.empty()) return {};  // --sync periodic without resume: the flush is all
  Status w = save_resume_state(state_path_, snap);
  if (w) {
    std::lock_guard lock(mu_);
    checkpointed_ = true;
  }
  return w;
}

void ReceiverCore::stop_checkpoints() {
  if (!checkpointer_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  checkpointer_.join();
}

void ReceiverCore::abandon() {
  stop_checkpoints();
  if (!state_path_.empty() && (checkpointed_ || state_dirty_) && checkpoint().ok()) {
    sink_.keep();
    kept_ = true;
    return;
  }
  sink_.abandon();
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
  return on_frame(datagram, false);
}

Status ReceiverCore::protect(const DataKey& key) {
  if (key.suite == control::FrameSuite::kNone) {
    crypto_.reset();
    want_flags_ = 0;
    return {};
  }
  auto c = engine::FrameCrypto::create(key.key, protection_of(key.suite));
  if (!c) return make_error(c.error());
  crypto_.emplace(std::move(*c));
  want_flags_ = engine::protection_flags(crypto_->protection());
  plain_.resize(engine::kMaxPayload);
  return {};
}

// Checks run cheapest first, and nothing of a frame reaches FEC state before its tag verified.
// A frame thrown away is counted; one that came over the control connection can only come from
// the sender itself, so there it ends the session.
Status ReceiverCore::dropped(uint64_t& counter, bool unicast) {
  ++counter;
  if (!unicast) return {};
  return make_error(
      "sender's unicast repair failed its checks (malformed, of another session, or "
      "unauthenticated)");
}

Status ReceiverCore::on_frame(std::span<const uint8_t> datagram, bool unicast) {
  // With a tag to check, the CRC adds nothing (the tag covers everything it covers).
  auto parsed =
      engine::parse_frame(datagram, crypto_ ? engine::CrcCheck::Skip : engine::CrcCheck::Verify);
  if (!parsed) {
    return dropped(stats_.frames_rejected, unicast);
  }
  const engine::FrameHeader& h = parsed->header;
  if (h.session != session_id_ ||
      (h.type != engine::kFrameData && h.type != engine::kFrameBeacon)) {
    return dropped(stats_.frames_foreign, unicast);
  }
  std::span<const uint8_t> payload = parsed->payload;
  if ((h.flags & (engine::kFlagAuth | engine::kFlagEncrypted)) != want_flags_) {
    return dropped(stats_.frames_unauthenticated,
                   unicast);  // e.g. an untagged frame injected into a tagged session
  }
  if (crypto_) {
    uint8_t* plain =
        crypto_->protection() == engine::FrameProtection::kEncrypt ? plain_.data() : nullptr;
    if (!crypto_->open(datagram.data(), payload, parsed->tag, plain)) {
      return dropped(stats_.frames_unauthenticated, unicast);
    }
    if (plain) payload = {plain, payload.size()};
    // Replays: only multicast frames (TCP does not replay, and unicast frames take sequence
    // numbers from the same counter as the passes, far from any window edge).
    if (!unicast && h.type == engine::kFrameData &&
        replay_.check(h.sequence) != engine::ReplayWindow::Verdict::kNew) {
      ++stats_.frames_replayed;
      return {};
    }
  }
  if (h.type == engine::kFrameBeacon) {
    if (payload.size() >= 8 && !unicast) {
      uint64_t nonce = 0;
      for (size_t i = 0; i < 8; ++i) nonce = (nonce << 8) | payload[i];
      beacon_nonce_ = nonce;
      heard_ = true;
    }
    return {};
  }
  if (h.object != 0 || h.block >= layout_.block_count() || h.k != layout_.block_k(h.block)) {
    return dropped(stats_.frames_foreign, unicast);
  }
  if (!unicast) {
    heard_ = true;
    ++stats_.data_frames;
    if (h.sequence > stats_.highest_sequence) stats_.highest_sequence = h.sequence;
  }
  return add_symbol(h.block, h.esi, payload, unicast);
}

Status ReceiverCore::on_repair(const control::Repair& r) {
  // Authenticated sessions send whole frames over TCP too (see FrameBuilder).
  if (crypto_) return on_frame(r.payload, true);
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
      if (!assembler_->spill_error().empty()) {
        return make_error("cannot park an incomplete block on disk: " + assembler_->spill_error());
      }
      return {};
    case Event::kInvalid:
      ++stats_.frames_foreign;
      return {};
    case Event::kStored:
    case Event::kComplete:
      break;
  }
  stats_.spills = assembler_->spills();
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
  if (!state_path_.empty() || periodic_flush_) {
    std::lock_guard lock(mu_);
    state_.set(block);
    state_dirty_ = true;
  }
  return h;
}

Status ReceiverCore::hash_in_order(uint32_t fresh, std::span<const uint8_t> data) {
  // The block just written is hashed from memory; blocks that were written ahead of a gap (or
  // come from a resumed run) are read back from the file once the gap fills.
  while (hashed_blocks_ < layout_.block_count()) {
    const uint32_t b = hashed_blocks_;
    if (b == fresh && !data.empty()) {
      whole_.update(data);
    } else if (assembler_->done(b)) {
      readback_.resize(layout_.block_bytes(b));
      Status r = sink_.read(layout_.block_offset(b), readback_);
      if (!r) return r;
      whole_.update(readback_);
    } else {
      break;
    }
    ++hashed_blocks_;
  }
  return {};
}

Status ReceiverCore::commit() {
  if (!complete() || hashed_blocks_ != layout_.block_count()) {
    return make_error("internal: commit before every block was written");
  }
  stop_checkpoints();
  if (whole_.finish() != object_sha256_) {
    if (!state_path_.empty()) ::unlink(state_path_.c_str());  // never resume from bad data
    return make_error(
        "whole-object SHA-256 mismatch: the object was not kept (the partial data or the sender's "
        "manifest is inconsistent; the next run starts over)");
  }
  Status c = sink_.commit(sync_end_);
  if (c && !state_path_.empty()) ::unlink(state_path_.c_str());
  return c;
}

control::Nak ReceiverCore::make_nak(uint32_t pass) const {
  std::vector<uint32_t> missing(layout_.block_count());
  for (uint32_t b = 0; b < layout_.block_count(); ++b) missing[b] = assembler_->missing(b);
  return control::build_nak(pass, missing, stats_.frames_received, stats_.dropped()).nak;
}

}  // namespace shoal::session
