// SenderDriver: runs a SenderCore (session/sender_core.h) over real sockets. It owns the event
// loop, the join server (control/join_server.h: listener, admission and handshake; a receiver
// reaches the core once it has joined), the data plane (DataPass, beacons), the unicast streamer's
// byte pushing, metrics and the progress line, and carries out the core's actions.
// Internal to session/: run_sender (sender.h) is the entry point.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "announce/announce.h"
#include "common/stop_signals.h"
#include "control/auth.h"
#include "control/connection.h"
#include "control/event_loop.h"
#include "control/join_server.h"
#include "control/metrics_server.h"
#include "engine/frame_builder.h"
#include "engine/pacer.h"
#include "engine/transport_select.h"
#include "object/manifest.h"
#include "object/manifest_stream.h"
#include "object/object_source.h"
#include "object/pipe_source.h"
#include "object/zero_blocks.h"
#include "probe/probe_autorate.h"
#include "session/data_pass.h"
#include "session/manifest_seal.h"
#include "session/sender.h"
#include "session/sender_core.h"
#include "session/session_keys.h"
#include "session/symbol_source.h"

namespace shoal::session {

class SenderDriver {
 public:
  explicit SenderDriver(const SendOptions& o) : opt_(o) {}
  SendResult run();

 private:
  // The driver's side of a joined receiver: its connection (the join server's, until released)
  // and the unicast stream's position.
  struct Peer {
    uint32_t id = 0;
    control::Connection* conn = nullptr;  // null once released
    std::string addr;
    std::optional<control::Key> channel;  // protects the data key in its KeyGrant
    std::optional<ManifestSeal> seal;     // tags its manifest messages (from the channel key)
    // The manifest streamed to it: the next chunk (kManifestChunk blocks) to send, and whether
    // the ManifestEnd went out. Starts with the Session.
    bool session_sent = false;
    uint32_t manifest_chunk = 0;
    bool manifest_end_sent = false;
    // Unicast stream: symbol ranges still to send (source rows, or repair rows encoded here),
    // the next one's position.
    std::vector<RepairRange> feed;
    size_t feed_next = 0;
    uint32_t feed_pass = 0;
    bool feed_pass_end = false;  // a PassEnd follows the last queued symbol
  };

  // sender.cc: options, object, transport, listener, keys; the core. nullopt = ready to run.
  std::optional<SendOutcome> setup();
  // The manifest: from the cache for a plain regular file sent unchanged before, else hashed by
  // workers while the session runs (object/manifest_stream.h) and then cached.
  void start_manifest(bool cacheable);
  // send - --size: the options a bounded spool cannot serve are refused.
  Status check_pipe_options() const;
  // A piped object's spool: lets go of what every receiver has; a pipe that failed ends the
  // session (housekeeping).
  void tend_pipe(uint64_t now_ns);
  bool pipe_failed_ = false;
  bool pipe_tail_copied_ = false;
  void copy_pipe_tail();
  // sender_driver.cc
  SendOutcome serve();
  void on_joined(const control::JoinedPeer& j);
  void on_message(uint32_t id, const control::Message& m);
  void on_closed(uint32_t id, const std::string& why);
  // Gives a receiver's connection back to the join server (its last messages go out first).
  void release(uint32_t id, const std::string& why);
  void drain();
  void begin(size_t receivers);
  void begin_data();
  void run_pass(action::StartPass pass);
  // sender_stream.cc: what goes to one receiver over its control connection.
  void send_session(Peer& p);
  // Sends the peer the manifest messages that are hashed, while its connection queues less than
  // kManifestQueueBytes; flush: all of it and the ManifestEnd, whatever the queue (waiting for
  // the hashing to finish). Before any PassEnd.
  void send_manifest(Peer& p, bool flush);
  // Every frame sequence number used so far is below this (multicast and unicast alike).
  control::Horizon horizon() const {
    return {static_cast<uint32_t>(std::min<uint64_t>(builder_->frames(), UINT32_MAX))};
  }
  void send_manifest_all();
  // Data of `block` may go out: its hash is computed and on its way to every receiver.
  bool published(uint32_t block);
  void start_feed(Peer& p, std::vector<RepairRange> items, uint32_t pass);
  // A unicast lane pass from a serving peer: the hashes first, then the assignment.
  void assign_peer(Peer& p, const action::AssignPeer& a);
  // Sends one feed item; false when the receiver failed (reported through local_failure).
  bool send_feed_item(Peer& p, const RepairRange& item);
  void feed_unicast(Peer& p);
  void send_unicast(uint32_t id, const std::vector<RepairRange>& ranges);
  // A Repair message for one symbol; valid until the next call (it may view frame_buf_).
  Result<control::Repair> make_repair(uint32_t block, uint8_t k, uint8_t esi,
                                      const uint8_t* payload);
  void local_failure(uint32_t id, std::string reason);
  void housekeeping();
  // SIGINT/SIGTERM: receivers are told the session was aborted, the report is still written.
  void on_stop_signal();
  void send_beacon();
  void service(int timeout_ms);
  int poll_timeout_ms() const;
  void progress(const char* what, double frac, bool final_line = false);
  std::string render_metrics() const;
  SendResult finish(SendOutcome outcome);

  SendOptions opt_;
  uint64_t t_start_ = 0;
  std::unique_ptr<control::EventLoop> loop_;
  std::optional<StopSignals> stop_signals_;
  int stop_signal_ = 0;  // the signal that stopped the session (0: none)
  std::unique_ptr<control::JoinServer> server_;
  std::map<uint32_t, Peer> peers_;  // joined receivers
  std::optional<SenderCore> core_;
  bool draining_ = false;
  bool rate_pinned_ = false;  // --slow-receiver wait set the rate: --rate auto no longer steers
  std::optional<action::StartPass> pending_pass_;
  std::optional<SendOutcome> outcome_;
  uint64_t session_id_ = 0;
  control::Session session_msg_;
  std::optional<object::ObjectSource> source_;
  std::unique_ptr<object::PipeSource> pipe_;  // send - --size: instead of source_
  std::span<const uint8_t> object_bytes() const {
    return pipe_ ? pipe_->bytes() : source_->bytes();
  }
  std::optional<fec::BlockLayout> layout_;
  // Declared after what its workers read (the object): destroyed, and so stopped, first.
  std::unique_ptr<object::ManifestStream> manifest_;
  std::optional<object::ZeroBlocks> zero_blocks_;  // the first pass leaves these blocks out
  uint64_t zero_blocks_sent_as_hash_ = 0;
  std::vector<control::Digest> chunk_digests_;  // per manifest chunk sent so far (ManifestSeal)
  uint64_t first_frame_ns_ = 0;                 // when the first data frame was allowed out
  std::optional<SymbolSource> symbols_;
  std::optional<DataKey> data_key_;
  std::optional<engine::FrameBuilder> builder_;
  std::unique_ptr<engine::TxBackend> tx_;
  std::optional<engine::Pacer> pacer_;
  std::optional<DataPass> pass_;
  std::unique_ptr<control::MetricsServer> metrics_;
  std::unique_ptr<announce::Announcer> announcer_;
  uint64_t beacon_nonce_ = 0, last_beacon_ns_ = 0, last_housekeeping_ns_ = 0;
  std::vector<uint8_t> frame_buf_;
  std::vector<uint8_t> encode_buf_;  // repair rows of the unicast feed
  uint64_t last_progress_ns_ = 0;
  const PassStats* pass_stats_ = nullptr;  // the running pass, for the progress line
  uint64_t pass_frames_ = 0;
  std::optional<probe::AutoRate> auto_rate_;  // --rate auto (probe/probe_autorate.h)
};

}  // namespace shoal::session
