// ReceiverCore: the receiver's data logic without I/O of its own. Frames, repair symbols and
// block hashes (streamed by the sender while data flows) in; blocks assembled, verified against
// their hashes and written through an injected object::BlockSink (object/object_sink.h); NAKs
// out. A block decoded before its hash arrived waits in its slot (parked) until it does. Every
// byte is verified once, in its block: the end of a session reads nothing back. The driver
// (receiver.cc) owns the sockets, the clock, the sink and its durability (session/checkpointer.h),
// which learns of each verified block through a callback. Not thread-safe: one per receive loop.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/messages.h"
#include "engine/block_assembler.h"
#include "engine/replay_window.h"
#include "fec/layout.h"
#include "object/manifest.h"
#include "object/object_sink.h"
#include "object/resume_state.h"
#include "object/zero_blocks.h"
#include "session/session_keys.h"
#include "session/verify_worker.h"

namespace shoal::session {

struct ReceiverStats {
  uint64_t frames_received = 0;         // every datagram seen on the group port
  uint64_t frames_rejected = 0;         // failed parsing or CRC
  uint64_t frames_unauthenticated = 0;  // tag missing or wrong (forged, or another key)
  uint64_t frames_replayed = 0;         // authentic, but seen before or older than the window
  uint64_t frames_ahead = 0;      // authentic, numbered past the sender's horizon (an insider's?)
  uint64_t data_frames = 0;       // authentic multicast data frames of this session
  uint32_t highest_sequence = 0;  // highest data-frame sequence seen
  uint64_t frames_foreign = 0;    // valid frames of another session / wrong shape
  uint64_t frames_useless = 0;    // duplicates and symbols for finished blocks
  uint64_t symbols_multicast_repair = 0;  // repair symbols taken from multicast
  uint64_t symbols_unicast_repair = 0;    // symbols taken from unicast repair
  uint64_t block_hash_failures = 0;
  uint32_t blocks_fetched = 0;  // failed from the group repeatedly: fetched over the connection
  uint64_t no_room_drops = 0;
  uint64_t writes_deferred = 0;    // verified blocks that waited in memory for the disk
  uint64_t spills = 0;             // incomplete blocks moved out of memory (bounded memory)
  uint64_t blocks_parked = 0;      // decoded before their hash arrived (verified once it did)
  uint32_t resume_mismatches = 0;  // resumed blocks whose data no longer matched their hash
  uint32_t blocks_zero = 0;        // all-zero blocks filled in from their hash (no data needed)
  uint64_t bytes_written = 0;
  // Datagrams thrown away as malformed, unauthenticated or replayed.
  uint64_t dropped() const { return frames_rejected + frames_unauthenticated + frames_replayed; }
};

class ReceiverCore : private engine::SpillStore {
 public:
  // Called with each block once it is verified and handed to the sink.
  using VerifiedFn = std::function<void(uint32_t block)>;

  // Checks the session's layout. `sink` (created by the caller: it can fail on disk space before
  // the receiver says Ready) must outlive the core; it also holds incomplete blocks spilled out
  // of memory. `resume`: blocks verified and durable in an earlier run of this object's layout;
  // each is read back and checked when its hash arrives, and taken as done only if it matches.
  static Result<std::unique_ptr<ReceiverCore>> make(const control::Session& session,
                                                    object::BlockSink& sink, size_t max_open_blocks,
                                                    const object::ResumeState* resume = nullptr,
                                                    VerifiedFn on_verified = {});

  // The sink reads zeros wherever nothing was written (a file this run created): an all-zero
  // block then needs no write. Otherwise (a device, a resumed file, a pipe) zeros are written.
  void set_target_reads_zero(bool yes) { target_reads_zero_ = yes; }

  // Blocks are checked against their hashes on a thread of its own (session/verify_worker.h)
  // from now on, not in on_datagram: the driver watches verify_fd() and calls collect_verified().
  // Without it every check is done inline, as it is handed in.
  Status verify_off_thread();
  int verify_fd() const { return verifier_ ? verifier_->fd() : -1; }
  // Writes verified blocks that waited for the disk (BlockSink::ready said no), as far as the
  // sink takes them now. Call it between bursts. Errors: a fatal local fault (disk).
  Status write_deferred();
  size_t blocks_unwritten() const { return unwritten_.size(); }
  // Decoded blocks neither done nor lacking: under check on the worker or waiting for the disk.
  size_t blocks_in_hand() const {
    return unwritten_.size() + (verifier_ ? verifier_->pending() : 0);
  }

  // Takes the worker's verdicts: blocks that matched are written, the others received again.
  // Errors: a fatal local fault (disk). Call it when verify_fd() is readable.
  Status collect_verified();

  // Hashes of blocks first .. first + hashes.size() - 1, in order (first == hashes_known()).
  // Parked blocks they cover are verified and written; resumed blocks they cover are checked;
  // all-zero blocks (object/zero_blocks.h) are filled in without data.
  // Errors: out of order, beyond the object, or a fatal local fault (disk).
  Status add_hashes(uint32_t first, std::span<const control::Digest> hashes);
  uint32_t hashes_known() const { return known_; }

  // One datagram from the group. Returns an error only for a fatal local fault (disk write failed).
  Status on_datagram(std::span<const uint8_t> datagram);
  // A unicast repair symbol from the control connection.
  Status on_repair(const control::Repair& repair);
  // A symbol from a peer (peer repair, session/peer_fetch.h): plain, never a frame; its block is
  // checked against the manifest hash like any other. A malformed one is an error.
  Status on_peer_symbol(const control::Repair& repair);
  // From the KeyGrant: frames must carry this key's tag (none with FrameSuite::kNone); call
  // before the first datagram.
  Status protect(const DataKey& key);
  // From a control::Horizon over the sender's connection: every sequence number below was used.
  void set_horizon(uint32_t next_sequence) { replay_.set_horizon(next_sequence); }
  // Blocks to ask the sender for over the connection (control::Fetch): each failed
  // verification kFetchAfterFailures times from the group (an insider's forged symbols, most
  // likely), and is from then on taken only from the connection. At most kMaxFetchBlocks are
  // asked for and not yet verified; nullopt when there is nothing to ask now.
  std::optional<control::Fetch> take_fetch();
  static constexpr uint8_t kFetchAfterFailures = 2;
  // The nonce of the last authentic beacon heard (0 = none yet), echoed in Ready.
  uint64_t beacon_nonce() const { return beacon_nonce_; }

  bool complete() const { return assembler_->blocks_done() == assembler_->block_count(); }
  // The NAK for the pass that just ended (every incomplete block with its missing count).
  control::Nak make_nak(uint32_t pass) const;
  // The report sent while data flows (control::Progress): incomplete blocks below the highest
  // block a data frame has named, lowest first, at most max_runs runs, and the block below which
  // all are complete. nullopt when none is incomplete there and that block has not moved since
  // the last report. O(blocks scanned past the lowest incomplete one + runs).
  std::optional<control::Progress> make_progress(size_t max_runs);
  // Every block verified and handed to the sink? ("internal: ..." error otherwise.)
  Status check_complete() const;
  // Blocks taken as done from the resume state (checked against their hashes).
  uint32_t resumed_blocks() const { return resumed_; }

  const ReceiverStats& stats() const { return stats_; }
  // A frame of this session (beacon or data) arrived: multicast reaches this receiver.
  bool heard_session() const { return heard_; }
  uint32_t blocks_done() const { return assembler_->blocks_done(); }
  uint32_t block_count() const { return assembler_->block_count(); }
  uint64_t object_size() const { return layout_.object_size(); }
  uint64_t session_id() const { return session_id_; }

 private:
  ReceiverCore(const control::Session& s, object::BlockSink& sink, fec::BlockLayout layout,
               VerifiedFn on_verified);
  // Verifies a decoded block against its (known) hash, inline or on the worker; then
  // verified().
  Status verify_and_write(uint32_t block);
  // The verdict on a decoded block: writes it (or queues it while the disk is behind), or resets
  // it to be received again.
  Status verified(uint32_t block, bool match);
  Status write_block(uint32_t block);
  Status recheck_resumed(uint32_t block);
  Status fill_zero(uint32_t block);
  Status add_symbol(uint32_t block, uint8_t esi, std::span<const uint8_t> payload, bool unicast);
  Status on_frame(std::span<const uint8_t> datagram, bool unicast);
  Status dropped(uint64_t& counter, bool unicast);
  // SpillStore: incomplete blocks evicted from memory park their source symbols in the output
  // file at their final offsets (overwritten by the verified block later).
  Status save(uint64_t offset, std::span<const uint8_t> data) override {
    return sink_.write(offset, data);
  }
  Status load(uint64_t offset, std::span<uint8_t> out) override { return sink_.read(offset, out); }

  uint64_t session_id_;
  fec::BlockLayout layout_;
  // 0 .. known_ - 1 arrived. Left uninitialised (new T[n], not a vector): its pages are touched
  // only as hashes arrive, so a session of millions of blocks opens at once (32 B per block).
  std::unique_ptr<control::Digest[]> block_sha256_;
  uint32_t known_ = 0;
  std::vector<uint32_t> parked_;      // decoded, awaiting their hash (in their slots)
  std::deque<uint32_t> unwritten_;    // verified, awaiting room in the sink (in their slots)
  std::vector<bool> resume_pending_;  // resumed blocks not checked yet (their hash not in)
  object::BlockSink& sink_;
  VerifiedFn on_verified_;
  std::unique_ptr<engine::BlockAssembler> assembler_;
  ReceiverStats stats_;
  bool heard_ = false;
  uint64_t beacon_nonce_ = 0;
  std::optional<engine::FrameCrypto> crypto_;
  uint8_t want_flags_ = 0;  // AUTH / ENCRYPTED bits every frame of the session must carry
  engine::ReplayWindow replay_;
  std::vector<uint8_t> plain_;     // decrypted payload of the frame being handled
  std::vector<uint8_t> readback_;  // a resumed block being checked

  uint32_t resumed_ = 0;
  object::ZeroBlocks zero_;
  bool target_reads_zero_ = false;
  // Blocks that failed verification from the group, and how often; blocks taken only from the
  // connection from then on (until verified), and those of them not asked for yet. Few: only
  // a fault or an insider makes a block fail.
  std::unordered_map<uint32_t, uint8_t> hash_failures_;
  std::unordered_map<uint32_t, bool> fetched_;  // block -> asked for already
  std::deque<uint32_t> fetch_wanted_;
  size_t fetch_asked_ = 0;
  // make_progress: blocks below lowest_open_ are all done; data frames have named blocks up to
  // horizon_ - 1 (0: none yet).
  uint32_t lowest_open_ = 0, horizon_ = 0;
  uint32_t reported_complete_below_ = 0;  // the last report's complete_below
  // Declared after the assembler: destroyed (its thread stopped) before the slots it reads.
  std::unique_ptr<VerifyWorker> verifier_;
  std::vector<VerifyWorker::Verdict> verdicts_;
};

}  // namespace shoal::session
