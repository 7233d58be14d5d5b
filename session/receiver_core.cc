#include "session/receiver_core.h"

#include <algorithm>

#include "engine/wire.h"
#include "object/manifest.h"

namespace shoal::session {

Result<std::unique_ptr<ReceiverCore>> ReceiverCore::make(const control::Session& s,
                                                         object::BlockSink& sink,
                                                         size_t max_open_blocks,
                                                         const object::ResumeState* resume,
                                                         VerifiedFn on_verified) {
  auto layout = fec::BlockLayout::make(s.object_size, s.symbol_size, s.k);
  if (!layout) return make_error("sender sent an unusable session layout: " + layout.error());
  if (layout->block_count() != s.block_count) {
    return make_error("sender's session does not match its layout (" +
                      std::to_string(s.block_count) + " blocks announced, " +
                      std::to_string(layout->block_count()) + " in the layout)");
  }
  std::unique_ptr<ReceiverCore> core(new ReceiverCore(s, sink, *layout, std::move(on_verified)));
  auto a = engine::BlockAssembler::make(*layout, max_open_blocks, core.get());
  if (!a) return make_error(a.error());
  core->assembler_ = std::move(*a);
  if (resume != nullptr) {
    if (resume->block_count != s.block_count || resume->verified.size() * 8 < s.block_count)
      return make_error("internal: resume state of another block count");
    core->resume_pending_.assign(s.block_count, false);
    for (uint32_t b = 0; b < s.block_count; ++b) core->resume_pending_[b] = resume->has(b);
  }
  return core;
}

ReceiverCore::ReceiverCore(const control::Session& s, object::BlockSink& sink,
                           fec::BlockLayout layout, VerifiedFn on_verified)
    : session_id_(s.session_id),
      layout_(layout),
      block_sha256_(new control::Digest[layout.block_count()]),
      sink_(sink),
      on_verified_(std::move(on_verified)),
      zero_(layout) {}

Status ReceiverCore::add_hashes(uint32_t first, std::span<const control::Digest> hashes) {
  if (first != known_ || hashes.size() > layout_.block_count() - known_) {
    return make_error("sender sent block hashes out of order (blocks " + std::to_string(first) +
                      "+" + std::to_string(hashes.size()) + ", expected " + std::to_string(known_) +
                      " of " + std::to_string(layout_.block_count()) + ")");
  }
  std::copy(hashes.begin(), hashes.end(), block_sha256_.get() + first);
  known_ += static_cast<uint32_t>(hashes.size());
  // Parked blocks now covered: verified and written (the list stays short: parked blocks hold
  // assembler slots).
  for (size_t i = 0; i < parked_.size();) {
    const uint32_t b = parked_[i];
    if (b >= known_) {
      ++i;
      continue;
    }
    parked_[i] = parked_.back();
    parked_.pop_back();
    if (Status w = verify_and_write(b); !w) return w;
  }
  if (!resume_pending_.empty()) {
    for (uint32_t b = first; b < known_; ++b) {
      if (!resume_pending_[b]) continue;
      resume_pending_[b] = false;
      if (Status r = recheck_resumed(b); !r) return r;
    }
  }
  for (uint32_t b = first; b < known_; ++b) {
    // A complete block (parked until now, its check under way) is verified like any other.
    if (!assembler_->done(b) && assembler_->missing(b) != 0 && zero_.is_zero(b, block_sha256_[b])) {
      if (Status z = fill_zero(b); !z) return z;
    }
  }
  return {};
}

// An all-zero block needs no data (the sender leaves it out of its first pass): zeros are written
// unless the target already reads zeros there (a file this run created, nothing of this block in
// it: no symbols spilled there).
Status ReceiverCore::fill_zero(uint32_t b) {
  if (fetched_.contains(b)) return {};  // asked for over the connection: that answer settles it
  const bool untouched = assembler_->missing(b) == layout_.block_k(b);
  if (!target_reads_zero_ || !untouched) {
    const auto n = static_cast<size_t>(layout_.block_bytes(b));
    if (Status w = sink_.write(layout_.block_offset(b), {zero_.zeros().data(), n}); !w) return w;
    stats_.bytes_written += n;
  }
  assembler_->mark_done(b);
  ++stats_.blocks_zero;
  if (on_verified_) on_verified_(b);
  return {};
}

// A resumed block is done only if what the file holds still hashes right; otherwise it is
// received again like any other (the state may be stale: the data changed since it was saved).
Status ReceiverCore::recheck_resumed(uint32_t b) {
  if (assembler_->done(b) || assembler_->missing(b) == 0) return {};  // received meanwhile
  readback_.resize(layout_.block_bytes(b));
  if (Status r = sink_.read(layout_.block_offset(b), readback_); !r) return r;
  if (object::sha256(readback_) != block_sha256_[b]) {
    ++stats_.resume_mismatches;
    return {};
  }
  assembler_->mark_done(b);
  ++resumed_;
  return {};
}

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
    if (!unicast && h.type == engine::kFrameData) {
      using V = engine::ReplayWindow::Verdict;
      switch (replay_.check(h.sequence)) {
        case V::kNew:
          break;
        case V::kAhead:  // taken on its tag: a replay of it is a duplicate symbol, no more
          ++stats_.frames_ahead;
          break;
        case V::kDuplicate:
        case V::kTooOld:
          ++stats_.frames_replayed;
          return {};
      }
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
    // Reported to the sender: an insider's number past the horizon must not pass for it.
    const uint32_t seq =
        crypto_ ? static_cast<uint32_t>(std::min<uint64_t>(h.sequence, replay_.ceiling()))
                : h.sequence;
    if (seq > stats_.highest_sequence) stats_.highest_sequence = seq;
    horizon_ = std::max(horizon_, h.block);
  }
  return add_symbol(h.block, h.esi, payload, unicast);
}

Status ReceiverCore::on_repair(const control::Repair& r) {
  // Encrypted sessions send whole frames over TCP too (see FrameBuilder); others the bare symbol
  // (a frame is 48 bytes longer than a symbol, so the two cannot be mistaken).
  if (crypto_ && (crypto_->protection() == engine::FrameProtection::kEncrypt ||
                  r.payload.size() != layout_.symbol_size()))
    return on_frame(r.payload, true);
  if (r.block >= layout_.block_count())
    return make_error("sender sent repair for a block beyond the object");
  return add_symbol(r.block, r.esi, r.payload, true);
}

Status ReceiverCore::on_peer_symbol(const control::Repair& r) {
  if (r.block >= layout_.block_count() || r.payload.size() != layout_.symbol_size())
    return make_error("a peer sent a malformed symbol (block " + std::to_string(r.block) + ")");
  return add_symbol(r.block, r.esi, r.payload, true);
}

Status ReceiverCore::add_symbol(uint32_t block, uint8_t esi, std::span<const uint8_t> payload,
                                bool unicast) {
  using Event = engine::BlockAssembler::Event;
  if (!unicast && !fetched_.empty() && fetched_.contains(block)) {
    ++stats_.frames_useless;  // this block comes over the connection only now
    return {};
  }
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
  if (unicast) {
    ++stats_.symbols_unicast_repair;
    // A receiver on the unicast lane gets its blocks in order over TCP: its reports' horizon
    // (and complete_below, which a piped object's spool waits for) follows them.
    horizon_ = std::max(horizon_, block);
  } else if (esi >= layout_.block_k(block)) {
    ++stats_.symbols_multicast_repair;
  }
  if (ev != Event::kComplete) return {};

  if (block >= known_) {  // decoded ahead of its hash: it waits in its slot
    parked_.push_back(block);
    ++stats_.blocks_parked;
    return {};
  }
  return verify_and_write(block);
}

Status ReceiverCore::verify_and_write(uint32_t block) {
  auto data = assembler_->block_data(block);
  if (verifier_) {
    verifier_->submit(block, data, block_sha256_[block]);
    return {};
  }
  return verified(block, object::sha256(data) == block_sha256_[block]);
}

Status ReceiverCore::verify_off_thread() {
  if (verifier_) return {};
  auto w = VerifyWorker::start();
  if (!w) return make_error(w.error());
  verifier_ = std::move(*w);
  return {};
}

Status ReceiverCore::collect_verified() {
  if (!verifier_) return {};
  // Always take (it reads the eventfd): a wake-up for a verdict an earlier call already took
  // would otherwise leave the descriptor readable and the poll loop spinning.
  verifier_->take(verdicts_);
  for (const auto& v : verdicts_) {
    if (Status s = verified(v.block, v.match); !s) return s;
  }
  return {};
}

Status ReceiverCore::verified(uint32_t block, bool match) {
  if (!match) {
    // A forged or corrupted symbol slipped past the tag or the CRC: drop the whole block and
    // take it again; after repeated failures, only from the sender's own connection (an insider
    // can tag symbols for the group, never for that connection).
    ++stats_.block_hash_failures;
    if (!fetched_.empty() && fetched_.contains(block)) {
      return make_error("block " + std::to_string(block) +
                        " failed verification even as the sender sent it over this receiver's "
                        "own connection: the object changed at the sender while it was sent, or "
                        "the sender reads corrupt data; send it again");
    }
    if (++hash_failures_[block] >= kFetchAfterFailures) {
      hash_failures_.erase(block);
      fetched_.emplace(block, false);
      fetch_wanted_.push_back(block);
      ++stats_.blocks_fetched;
    }
    assembler_->reset(block);
    return {};
  }
  if (auto f = fetched_.find(block); f != fetched_.end()) {
    if (f->second)
      --fetch_asked_;
    else
      std::erase(fetch_wanted_, block);  // came over the connection before it was asked for
    fetched_.erase(f);
  }
  // The disk is behind (every write buffer in flight): the block waits in its slot rather than
  // the receive thread in the writer. Slots taken this way leave fewer for new blocks, whose
  // symbols are then dropped and reported as loss: the sender's rate control sees the disk.
  if (!unwritten_.empty() || !sink_.ready(layout_.block_bytes(block))) {
    unwritten_.push_back(block);
    ++stats_.writes_deferred;
    return {};
  }
  return write_block(block);
}

Status ReceiverCore::write_block(uint32_t block) {
  auto data = assembler_->block_data(block);
  Status w = sink_.write(layout_.block_offset(block), data);
  if (!w) return w;
  stats_.bytes_written += data.size();
  assembler_->mark_done(block);
  if (on_verified_) on_verified_(block);
  return {};
}

Status ReceiverCore::write_deferred() {
  while (!unwritten_.empty() && sink_.ready(layout_.block_bytes(unwritten_.front()))) {
    const uint32_t b = unwritten_.front();
    unwritten_.pop_front();
    if (Status w = write_block(b); !w) return w;
  }
  return {};
}

std::optional<control::Fetch> ReceiverCore::take_fetch() {
  if (fetch_wanted_.empty() || fetch_asked_ >= control::kMaxFetchBlocks) return std::nullopt;
  control::Fetch f;
  while (!fetch_wanted_.empty() && fetch_asked_ < control::kMaxFetchBlocks) {
    const uint32_t b = fetch_wanted_.front();
    fetch_wanted_.pop_front();
    fetched_[b] = true;
    ++fetch_asked_;
    f.blocks.push_back(b);
  }
  return f;
}

Status ReceiverCore::check_complete() const {
  if (!complete()) return make_error("internal: commit before every block was written");
  return {};
}

control::Nak ReceiverCore::make_nak(uint32_t pass) const {
  return control::build_nak_from(
             pass, layout_.block_count(), [this](uint32_t b) { return assembler_->missing(b); },
             stats_.frames_received, stats_.dropped())
      .nak;
}

std::optional<control::Progress> ReceiverCore::make_progress(size_t max_runs) {
  while (lowest_open_ < horizon_ && assembler_->missing(lowest_open_) == 0) ++lowest_open_;
  control::Progress p;
  p.highest_sequence = stats_.highest_sequence;
  p.data_frames = stats_.data_frames;
  max_runs = std::min(max_runs, control::kMaxProgressRuns);
  for (uint32_t b = lowest_open_; b < horizon_ && p.runs.size() < max_runs; ++b) {
    const uint8_t m = assembler_->missing(b);
    if (m == 0) continue;
    if (!p.runs.empty() && p.runs.back().missing == m &&
        p.runs.back().first_block + p.runs.back().count == b) {
      ++p.runs.back().count;
    } else {
      p.runs.push_back({b, 1, m});
    }
  }
  p.complete_below = lowest_open_;
  if (p.runs.empty() && lowest_open_ == reported_complete_below_) return std::nullopt;
  reported_complete_below_ = lowest_open_;
  return p;
}

}  // namespace shoal::session
