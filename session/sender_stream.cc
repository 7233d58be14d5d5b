// The driver's data over control connections: the session description, the unicast stream of a
// receiver multicast does not reach, and the unicast share of a repair step.
#include <spdlog/spdlog.h>

#include <cstring>

#include "common/clock.h"
#include "engine/wire.h"
#include "session/manifest_chunks.h"
#include "session/sender_driver.h"

namespace shoal::session {

namespace {
constexpr size_t kUnicastQueueBytes = size_t{4} << 20;  // unicast stream: queued per receiver
// Manifest queued per connection at most (~130 k blocks ahead): bounded memory per receiver for
// any object size; the rest follows as TCP drains it.
constexpr size_t kManifestQueueBytes = size_t{4} << 20;
}  // namespace

// A send that fails closes the connection at once, and on_closed() sets p.conn to null: every
// send below is followed by a check of p.conn before the next use.
void SenderDriver::send_session(Peer& p) {
  p.conn->send(session_msg_);
  if (!p.conn) return;
  p.conn->send(seal_key_grant(*data_key_, p.channel, session_msg_));
  if (!p.conn) return;
  p.session_sent = true;
  p.manifest_chunk = 0;
  p.manifest_end_sent = false;
  send_manifest(p, false);
}

// A piped object's last bytes arrive after the symbol source was made: its padded copy of the
// last symbol is taken again once every block is in, before any path (the multicast pass, a
// unicast feed, a Fetch) may send that block, each of which goes through here or published().
void SenderDriver::copy_pipe_tail() {
  if (!pipe_ || pipe_tail_copied_ || manifest_->ready() < manifest_->block_count()) return;
  symbols_->refresh_tail();
  pipe_tail_copied_ = true;
}

void SenderDriver::send_manifest(Peer& p, bool flush) {
  copy_pipe_tail();
  if (!p.conn || !p.conn->is_open() || !p.session_sent || p.manifest_end_sent) return;
  const uint32_t n = manifest_->block_count();
  const uint32_t chunks = n == 0 ? 0 : chunk_of(n - 1) + 1;
  if (flush && !manifest_->complete()) manifest_->wait_complete();
  while (p.conn && (flush || p.conn->pending_output() < kManifestQueueBytes)) {
    if (p.manifest_chunk == chunks) {
      if (!manifest_->complete()) return;
      p.conn->send(control::ManifestEnd{manifest_->object_sha256(),
                                        p.seal->end_tag(n, manifest_->object_sha256())});
      p.manifest_end_sent = true;
      return;
    }
    const auto first = static_cast<uint32_t>(chunk_first(p.manifest_chunk));
    const auto count =
        static_cast<uint32_t>(std::min<uint64_t>(chunk_end(p.manifest_chunk), n) - first);
    if (manifest_->ready() < first + count) return;
    const std::span<const control::Digest> hashes = manifest_->hashes(first, count);
    if (chunk_digests_.size() == p.manifest_chunk) {
      chunk_digests_.push_back(ManifestSeal::digest_of(hashes));
    }
    control::Manifest m;
    m.first_block = first;
    m.block_hashes.assign(hashes.begin(), hashes.end());
    m.tag = p.seal->tag(first, count, chunk_digests_[p.manifest_chunk]);
    p.conn->send(m);
    ++p.manifest_chunk;
  }
}

void SenderDriver::send_manifest_all() {
  for (auto& [id, p] : peers_) send_manifest(p, false);
}

// A block's data waits until the message carrying its hash is complete and queued to every
// receiver whose queue has room: a receiver that is behind on its manifest holds a decoded block
// until the hash comes (ReceiverCore parks it), never the others.
bool SenderDriver::published(uint32_t block) {
  const uint32_t n = manifest_->block_count();
  const uint64_t need = std::min<uint64_t>(n, chunk_end(chunk_of(block)));
  if (manifest_->ready() < need) return false;
  copy_pipe_tail();
  send_manifest_all();
  if (first_frame_ns_ == 0) {
    first_frame_ns_ = monotonic_ns();
    spdlog::info("first data frame {:.3f}s after start ({} of {} block hashes ready{})",
                 double(first_frame_ns_ - t_start_) / 1e9, manifest_->ready(), n,
                 manifest_->complete() ? "" : "; hashing the rest while sending");
  }
  return true;
}

void SenderDriver::start_feed(Peer& p, std::vector<RepairRange> items, uint32_t pass) {
  p.feed = std::move(items);
  p.feed_next = 0;
  p.feed_pass = pass;
  p.feed_pass_end = true;
  feed_unicast(p);
}

void SenderDriver::assign_peer(Peer& p, const action::AssignPeer& a) {
  send_manifest(p, true);  // the receiver checks what the peer sends against these
  if (!p.conn) return;
  control::PeerAssign m;
  m.session_id = session_id_;
  m.pass = a.pass;
  m.address = a.address;
  m.ranges.reserve(a.ranges.size());
  for (const RepairRange& r : a.ranges) m.ranges.push_back({r.block, r.first_esi, r.count});
  p.conn->send(m);
}

// Queues the peer's feed while its connection has room; the queue drains at whatever rate TCP
// gets to that receiver, so a slow one only slows itself.
void SenderDriver::feed_unicast(Peer& p) {
  const ReceiverRecord* r = core_->receiver(p.id);
  if (!r || !r->unicast || !r->active() || !p.conn || !p.conn->is_open()) return;
  while (p.conn->pending_output() < kUnicastQueueBytes && p.feed_next < p.feed.size()) {
    // Its hash goes first on the same connection (else the next housekeeping tries again).
    const uint32_t block = p.feed[p.feed_next].block;
    if (!p.manifest_end_sent && block >= chunk_first(p.manifest_chunk)) {
      send_manifest(p, false);
      if (!p.conn) return;
      if (!p.manifest_end_sent && block >= chunk_first(p.manifest_chunk)) return;
    }
    if (!send_feed_item(p, p.feed[p.feed_next])) return;
    ++p.feed_next;
  }
  if (p.feed_next >= p.feed.size() && p.feed_pass_end) {
    p.feed_pass_end = false;
    send_manifest(p, true);  // every hash before the pass's end
    if (p.conn) p.conn->send(control::PassEnd{p.feed_pass, 0});
  }
}

bool SenderDriver::send_feed_item(Peer& p, const RepairRange& item) {
  const fec::BlockLayout& lay = symbols_->layout();
  if (item.block >= lay.block_count()) {
    local_failure(p.id, "asked for block " + std::to_string(item.block) + " beyond the object");
    return false;
  }
  const auto k = static_cast<uint8_t>(lay.block_k(item.block));
  const size_t sym = lay.symbol_size();
  // Rows at or above k are repair rows: encoded here (the core took them fresh).
  const bool repair = item.first_esi >= k;
  if (repair) {
    encode_buf_.resize(size_t{item.count} * sym);
    uint8_t* outs[fec::kMaxSymbols];
    for (unsigned i = 0; i < item.count; ++i) outs[i] = encode_buf_.data() + i * sym;
    if (Status s = symbols_->encode(item.block, item.first_esi, item.count, outs); !s) {
      local_failure(p.id, "cannot encode unicast repair: " + s.error());
      return false;
    }
  }
  for (unsigned i = 0; i < item.count; ++i) {
    const unsigned esi = item.first_esi + i;
    if (!repair && esi >= k) break;  // a source range never runs past k
    const uint8_t* payload =
        repair ? encode_buf_.data() + i * sym : symbols_->source(item.block, esi);
    auto rep = make_repair(item.block, k, static_cast<uint8_t>(esi), payload);
    if (!rep) {
      local_failure(p.id, rep.error());
      return false;
    }
    if (!p.conn->send(*rep)) {
      local_failure(p.id,
                    "control connection cannot take unicast data (closed, or the receiver is too "
                    "slow to drain it)");
      return false;
    }
    core_->on_unicast_sent(p.id, 1);
  }
  return true;
}

Result<control::Repair> SenderDriver::make_repair(uint32_t block, uint8_t k, uint8_t esi,
                                                  const uint8_t* payload) {
  const size_t sym = symbols_->layout().symbol_size();
  control::Repair r;
  r.block = block;
  r.esi = esi;
  if (!builder_->encrypting()) {
    // The bare symbol: its block's hash (from the manifest, tagged over this very connection)
    // checks it, so a tag would only add 48 bytes a symbol (and a GMAC each side).
    r.payload = {payload, sym};
    return r;
  }
  // Encrypted sessions send the frame itself, ciphertext and tag, so the receiver takes unicast
  // data through the same decryption as multicast data.
  frame_buf_.resize(engine::kHeaderSize + sym + engine::kFrameTagSize);
  uint8_t* f = frame_buf_.data();
  engine::TxFrame tf;
  Status st = builder_->data(block, k, esi, payload, static_cast<uint16_t>(sym), f,
                             f + engine::kHeaderSize + sym, f + engine::kHeaderSize, tf);
  if (!st) return make_error(st.error());
  if (tf.payload != f + engine::kHeaderSize) std::memcpy(f + engine::kHeaderSize, tf.payload, sym);
  r.payload = {f, tf.size()};
  return r;
}

// Rows over the control connection at once: the planner's unicast share (fresh repair rows), or
// a Fetch (source symbols of blocks that failed from the group at that receiver).
void SenderDriver::send_unicast(uint32_t id, const std::vector<RepairRange>& ranges) {
  auto it = peers_.find(id);
  if (it == peers_.end() || !it->second.conn) return;
  for (const RepairRange& range : ranges) {
    if (!it->second.conn || !send_feed_item(it->second, range)) return;
  }
}

}  // namespace shoal::session
