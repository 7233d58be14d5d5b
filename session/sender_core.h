// SenderCore: the sender's protocol logic without I/O -- who has joined, when the session
// starts, which receivers take multicast and which unicast, what each pass sends, when a
// receiver has failed, when the session is over. Events in (each carrying now_ns), actions out:
// the driver (sender.cc) owns sockets, clock, threads and logging and carries the actions out.
// Shaped like ngtcp2: no sockets, no clock reads, no spdlog, no threads; deterministic.
//
// Contract with the driver:
//  - Ids are the driver's connection ids; a receiver is known to the core from on_joined (its
//    handshake and admission stay with the driver).
//  - After every batch of events (one poll of the event loop), call on_tick(now): the start, the
//    Ready wait, the answer wait and the end of the session are decided there, as the old
//    sequential loop decided them after each poll. next_deadline_ns() says when a tick is due.
//  - Drain next_action() after every call into the core, in order. A receiver that fails drops
//    the actions still queued for it (SendSession, SendHorizon, SendPassEnd, SendUnicastRepair,
//    StartUnicastFeed, AckDone), so nothing is sent to it after its FailReceiver.
//  - Slow receivers: after the answers to a multicast pass, a receiver that lacks more than
//    kSlowShare of the object's source symbols AND more than kSlowFactor times what the
//    lower-median receiver lacks is slow (one receiver alone, or everyone lacking a lot because
//    the rate is above the path's cap, is never slow: there the rate is wrong). SlowPolicy says
//    what happens to it: the unicast lane (StartUnicastFeed with exactly what it lacks: source
//    symbols of whole blocks, fresh repair rows for partial ones), a failure, or SetRate.
//  - Repair during a pass (NORM's shape): receivers report what they lack while data flows
//    (control::Progress). Between windows of a pass the driver asks take_interleaved_repair for
//    fresh repair rows to send with the next window: for every block a multicast receiver
//    reported incomplete after it had seen a frame newer than every frame sent for that block,
//    max(missing) rows. A receiver whose delivery ratio (data frames received per sequence
//    number sent) is below 1 - kSlowShare, or that joined during the pass, gets no interleaved
//    repair: it may be slow, and the pass end decides (Slow receivers, below).
//  - A verified Done is acknowledged at once (AckDone: Bye kFinished, connection released).
//  - StartPass: the driver runs the pass (DataPass), then calls on_pass_sent (or on_pass_failed).
//    At most one pass is outstanding.
//  - A piped object (send - --size): the driver's spool holds only blocks some receiver may still
//    need. spool_frontier() is the block below which every active receiver is complete (from its
//    Progress); the driver lets the spool go of blocks below it and says so (on_spool_released).
//    A receiver that then asks for a released block fails. Once the spool's reader waits for room
//    (on_spool), and until a quarter of the spool is free again, the receivers at the frontier
//    fail after answer_timeout_ns: a receiver that falls a spool behind must not hold the pipe
//    back for everyone.
//  - Peer repair (control::PeerOffer): a receiver that offers to serve peers is not acknowledged
//    when it is done; it is held (ReceiverRecord::serving) until the session ends, and a unicast
//    lane's pass goes to it (AssignPeer) instead of the sender's own feed: the nearest serving
//    peer by address (the longest common prefix), then the least loaded, at most
//    control::kPeerMaxClients stragglers each. A peer that a straggler reports failed
//    (control::PeerFailed) or whose connection closes is assigned nothing more; the straggler's
//    next pass comes from the sender. Once the multicast passes are over, idle peers are let go
//    (AckDone) as soon as every unicast lane has a peer and no receiver is on its way to Ready
//    (with --until, kLingerPeers of them stay for the receivers still to come). Once any receiver
//    has said it will serve (a PeerOffer without an address, sent with its Ready), the sender's own
//    lane passes hold at most 1/kLaneChunks of the object (kMinLaneChunk blocks at least), so a
//    straggler's later passes can come from peers that are done by then, and it feeds at most
//    kSenderLanes lanes at once: the others wait for a peer or a lane (first come, first served; a
//    lane keeps its place from one chunk to the next). A lane a peer feeds fails when the straggler
//    shows no progress (Progress) for answer_timeout_ns + control::kPeerStallNs; one that waits is
//    not timed.
//  - Failures the driver sees while carrying out an action (a send refused, an encode error) come
//    back through on_local_failure.
// Not thread-safe: one driver thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "control/messages.h"
#include "session/repair_planner.h"

namespace shoal::session {

// How a send ended (SendResult, Finish).
enum class SendOutcome { kAllVerified, kSomeFailed, kNobodyJoined, kBadInput, kError, kAborted };

// kRelaying: a relay (control::Relaying) whose copy is verified, sending the object on into its
// own segment; its Done comes when that session ended.
enum class ReceiverState { kJoined, kReady, kRelaying, kDone, kFailed, kSuperseded };

// The most receivers one relay may report (a relay's session admits --max-receivers, 10,000 by
// default): bounds what a relay can make the sender keep.
inline constexpr size_t kMaxRelayedPerRelay = 100'000;

// A receiver behind a relay, as the relay reported it (control::Downstream).
struct RelayedReceiver {
  std::string name, addr;
  bool ok = false;
  std::string reason;
  // Failed there, and the same receiver (by name) joined the sender itself (it went on from
  // the sender): it counts once, as that entry.
  bool superseded = false;
};

// --slow-receiver: what becomes of a receiver that cannot keep up with the multicast.
enum class SlowPolicy { kUnicast, kWait, kDrop };

// A receiver is slow when it lacks more than this share of the object's source symbols ...
inline constexpr double kSlowShare = 0.10;
// ... and more than this many times what the lower-median receiver lacks.
inline constexpr double kSlowFactor = 4.0;
// The first pass starts once every receiver said Ready, or once those that heard the beacon did
// and no other said Ready for this long: the rest are most likely out of the multicast's reach
// (they say so only when their beacon wait runs out, control::kBeaconWaitNs, 3 s) or slow to open
// their target. They join the pass under way, as late joiners do, instead of holding it up.
inline constexpr uint64_t kReadyQuietNs = 500'000'000;
// A multicast receiver whose lack has not shrunk over this many answered passes in a row fails.
inline constexpr uint32_t kStallPasses = 3;
// Interleaved repair: a block is repaired only when the reporting receiver had seen a frame this
// many sequence numbers newer than every frame sent for it (a frame still in flight is no loss).
inline constexpr uint32_t kInFlightFrames = 64;
// At most this many blocks' repair goes with one window (a window is 32 blocks by default).
inline constexpr size_t kMaxInterleavedBlocks = 1024;
// ... and with one quiet step (the pass waits for a block): the lowest ones, which a piped
// object's spool waits for; a receiver far behind does not get the whole of its lack resent.
inline constexpr size_t kMaxQuietRepairBlocks = 32;
// Progress reports the sender takes per second at most, however many receivers (at a few us
// each, ~2% of a core): the interval receivers report at grows with their number.
inline constexpr uint32_t kProgressBudgetPerSecond = 4000;
inline constexpr uint32_t kProgressMinIntervalMs = 25;
// Session.progress_interval_ms for a session starting with `receivers`: 25 ms up to 100
// receivers, then receivers / 4 ms (1,000: 250 ms; 10,000: 2.5 s), at most 60 s.
uint16_t progress_interval_ms(size_t receivers);
// A Nak's or a Progress's runs as the planner's NeedRuns, into `out` (its capacity kept).
void assign_need_runs(std::vector<NeedRun>& out, std::span<const control::NakRun> runs);
// A delivery ratio is measured over at least this many sequence numbers.
inline constexpr uint32_t kDeliverySample = 256;
// --slow-receiver wait never lowers the rate below this.
inline constexpr uint64_t kSlowMinRateBps = 1'000'000;

// Peer repair: the sender's own unicast lane pass, once receivers will serve, is at most
// 1/kLaneChunks of the object's blocks, and at least kMinLaneChunk.
inline constexpr size_t kLaneChunks = 16;
inline constexpr size_t kMinLaneChunk = 32;
// ... and it feeds at most this many lanes at once: the others wait for a peer or a free lane
// (the first stragglers finish and serve the rest, instead of every lane sharing the sender's
// link). A lane keeps its place with the sender from one chunk to the next.
inline constexpr uint32_t kSenderLanes = 2;
// With --until, idle serving peers kept for receivers still to come (the rest are let go).
inline constexpr size_t kLingerPeers = 8;

// One admitted receiver, as the core and the reports see it.
struct ReceiverRecord {
  uint32_t id = 0;
  std::string name, addr;
  std::string identity;  // TLS certificate CN ("" without TLS)
  ReceiverState state = ReceiverState::kJoined;
  bool unicast = false;          // served over TCP: multicast does not reach it, or it is slow
  bool slow = false;             // moved off multicast (or rate-limited) for being slow
  uint32_t first_full_pass = 0;  // the first multicast pass it was Ready for from the start
  bool asked = false;            // was sent the current PassEnd
  bool answered = false;         // answered it
  bool initial = false;          // sent its initial NAK (what it lacks before the first pass)
  std::vector<NeedRun> needs;
  uint32_t unicast_passes = 0;
  uint32_t unicast_pass_base = 0;  // the first unicast feed's pass number
  size_t last_pending = 0;         // stall detection of the unicast stream
  // The unicast lane's stall clock: when its queue at the sender last moved, or (a peer feeds
  // it) when it last sent a Progress report. 0: starts at the next look.
  uint64_t progress_ns = 0;
  control::Done done;
  std::string reason;                    // why it failed, or why it is served by unicast
  std::string segment;                   // a relay: where it relays (control::Relaying)
  std::vector<RelayedReceiver> relayed;  // a relay: its receivers' outcomes
  // Peer repair. A receiver that offered (control::PeerOffer): where it serves, whether it does
  // (done and still connected, not reported failed), the stragglers assigned to it now. A
  // straggler: the peer serving its current pass (0: the sender).
  std::string peer_addr;
  bool serving = false;
  uint32_t peer_load = 0;
  uint32_t served_by = 0;
  uint64_t peer_passes = 0;  // a straggler: unicast lane passes a peer served
  uint32_t lane_stalls = 0;  // unicast lane passes in a row that did not shrink its lack
  bool sender_lane = false;  // its lane pass holds one of the sender's kSenderLanes
  bool lane_queued = false;  // its lane pass waits for a peer or a sender lane
  uint32_t queued_pass = 0;
  std::vector<RepairRange> queued_items;
  std::optional<uint32_t> peer_ipv4;  // a peer: its address (leading bits shared = nearness)
  uint64_t unicast_symbols = 0;
  uint64_t blocks_fetched = 0;   // asked for over its connection (failed from the group: Fetch)
  uint64_t frames_received = 0;  // datagrams the receiver accepted (its received minus rejected)
  uint64_t frames_sent = 0;      // multicast frames sent while it took part, as of its last answer
  uint64_t pass_frames_received = 0, pass_frames_sent = 0;  // the same, in its last answered pass
  uint64_t done_ns = 0;
  uint64_t joined_ns = 0;               // when it joined
  uint64_t ready_by_ns = 0;             // it got the Session: it must say Ready by then
  uint64_t lacked_before = UINT64_MAX;  // symbols lacked at its previous answer
  uint32_t complete_below = 0;          // every block below it is complete there (its Progress)
  uint32_t stalled_passes = 0;          // answers in a row that lacked no less than before
  // Its last Progress report (unconsumed while progress_fresh) and its delivery ratio, measured
  // between reports at least kDeliverySample sequence numbers apart (-1: not measured yet).
  std::vector<NeedRun> progress;
  uint32_t progress_sequence = 0;
  bool progress_fresh = false;
  uint32_t delivery_base_sequence = 0;
  uint64_t delivery_base_frames = 0;
  bool delivery_based = false;
  double delivery = -1;
  bool active() const { return state == ReceiverState::kJoined || state == ReceiverState::kReady; }
  bool multicast() const { return active() && !unicast; }
};

struct SenderConfig {
  uint32_t min_receivers = 1;
  uint64_t max_wait_ns = 30'000'000'000;
  uint64_t answer_timeout_ns = 10'000'000'000;  // Ready, NAK answers, unicast stalls
  unsigned max_passes = 20;
  bool scope_strict = false;     // fail receivers multicast does not reach instead of unicast
  uint64_t beacon_nonce = 0;     // the nonce the driver's beacons carry (non-zero)
  std::string group;             // for messages only
  int ttl = 1;                   // for messages only
  std::string listen;            // for messages only
  std::vector<uint8_t> block_k;  // source symbols of every block
  uint8_t proactive = 0;         // repair rows sent with the first pass
  uint64_t unicast_budget_symbols = 256;
  SlowPolicy slow = SlowPolicy::kUnicast;
  uint64_t rate_bps = 0;  // the multicast rate at the start (--slow-receiver wait lowers it)
  // Take receivers' offers to serve peers (control::PeerOffer); off: every offer is declined
  // (acknowledged at once, assigned nothing).
  bool peer_repair = true;
  // --hosts: receivers expected by name, address or certificate name. The session starts once
  // every one joined (and min_receivers), or at max_wait; one that never joined counts as failed.
  std::vector<std::string> hosts;
  // --until: the session stays joinable until this instant (0 = it closes when its receivers are
  // done). Announcements go on; a receiver that joins late gets what it lacks from the repair step
  // under way, or, once everyone before it is done, from a new cycle (a pass over what it lacks);
  // receivers already done are not disturbed. Before the first receiver the join wait lasts until
  // then too (--max-wait then only ends a wait that has receivers). A receiver joining after it is
  // refused.
  uint64_t until_ns = 0;
};

// Multicast pass statistics reported by the driver (PassStats of data_pass.h).
struct PassTotals {
  uint64_t frames = 0;
  uint64_t repair_frames = 0;
  uint64_t rate_bps = 0;  // the pacer's rate at the pass end (0: unchanged)
};

namespace action {
struct Log {
  enum class Level { kDebug, kInfo, kWarn, kError };
  Level level;
  std::string text;
};
struct Emit {  // an --events record
  std::string name;
  nlohmann::json fields;
};
// The session starts with `receivers`: the session description must be complete (manifest).
struct Begin {
  size_t receivers;
};
// The data phase begins (every receiver is Ready or has failed): set up pacing.
struct BeginData {};
struct SendSession {  // Session, object::Manifest, KeyGrant
  uint32_t id;
};
struct StartPass {
  uint32_t pass;
  std::vector<RepairRange> ranges;
};
// Rows over the control connection: fresh repair rows, or (for a Fetch) source symbols.
struct SendUnicastRepair {
  uint32_t id;
  std::vector<RepairRange> ranges;
};
// control::Horizon with the frame sequence reached (the driver knows it): bounds how far a
// tagged frame may move the receiver's replay window.
struct SendHorizon {
  uint32_t id;
};
struct SendPassEnd {
  uint32_t id;
  uint32_t pass;
  uint64_t frames_sent;
};
// Stream `items` over TCP, drain-paced, then PassEnd{pass, 0}. An item's rows below the block's
// k are source symbols, rows at or above k fresh repair rows (encoded by the driver).
struct StartUnicastFeed {
  uint32_t id;
  uint32_t pass;
  std::vector<RepairRange> items;
};
// Take unicast lane pass `pass` from the serving peer at `address` (control::PeerAssign).
struct AssignPeer {
  uint32_t id;
  uint32_t pass;
  std::string address;
  std::vector<RepairRange> ranges;
};
// A receiver's Done was verified: Bye kFinished now, and release its connection.
struct AckDone {
  uint32_t id;
};
// --slow-receiver wait: the multicast rate from now on (the driver's pacer; it wins over
// --rate auto).
struct SetRate {
  uint64_t bps;
};
struct FailReceiver {  // Bye `code` (kFailedReceiver, or kAborted), then finish the connection
  uint32_t id;
  std::string reason;
  control::ByeCode code = control::ByeCode::kFailedReceiver;
};
struct Finish {
  SendOutcome outcome;
};
}  // namespace action

using SenderAction =
    std::variant<action::Log, action::Emit, action::Begin, action::BeginData, action::SendSession,
                 action::StartPass, action::SendUnicastRepair, action::SendHorizon,
                 action::SendPassEnd, action::StartUnicastFeed, action::AssignPeer, action::AckDone,
                 action::SetRate, action::FailReceiver, action::Finish>;

class SenderCore {
 public:
  // kLinger (--until only): every receiver so far is done or failed; waiting for late ones.
  enum class Phase {
    kJoining,
    kAwaitReady,
    kPassing,
    kAwaitAnswers,
    kUnicastDrain,
    kLinger,
    kFinished
  };

  // start_ns: when the sender started (the join deadline is start_ns + max_wait_ns).
  SenderCore(SenderConfig config, uint64_t start_ns);

  // Events.
  void on_joined(uint32_t id, std::string name, std::string addr, std::string identity,
                 uint64_t now_ns);
  // Ready, Nak, Done, Progress (answered with a Horizon), Fetch; Feedback is ignored (the driver
  // gives it to the rate controller); any other message fails the receiver.
  void on_message(uint32_t id, const control::Message& message, uint64_t now_ns);
  void on_closed(uint32_t id, const std::string& why, uint64_t now_ns);
  void on_local_failure(uint32_t id, std::string reason, uint64_t now_ns);
  void on_unicast_sent(uint32_t id, uint64_t symbols);
  // While unicast streams finish (Phase::kUnicastDrain): bytes still queued on the receiver's
  // connection; a queue that does not move for answer_timeout_ns fails the receiver.
  void on_unicast_backlog(uint32_t id, size_t pending_bytes, uint64_t now_ns);
  void on_pass_sent(const PassTotals& stats, uint64_t now_ns);
  void on_pass_failed(const std::string& error, uint64_t now_ns);
  void on_tick(uint64_t now_ns);
  // The operator stopped the sender (SIGINT/SIGTERM): every receiver not done yet is told the
  // session was aborted (Bye kAborted: it keeps its partial data for a resume) and counted as
  // failed with `reason`; the session finishes with SendOutcome::kAborted.
  void abort(const std::string& reason, uint64_t now_ns);
  bool aborted() const { return aborted_; }

  // Between windows of a multicast pass: appends fresh repair rows for what receivers reported
  // lacking (see "Repair during a pass" above). sent_sequence[b]: 1 + the sequence number of the
  // newest frame sent for block b (0: none yet), as the driver's data pass keeps it. `quiet`: the
  // pass has sent nothing for a while (it waits for a piped object's next block): nothing is in
  // flight, so every receiver's last report counts, lossy or not.
  void take_interleaved_repair(std::span<const uint32_t> sent_sequence,
                               std::vector<RepairRange>& out, bool quiet = false);

  // A piped object's spool (see the contract above).
  uint32_t spool_frontier() const;
  void on_spool_released(uint32_t below);
  void on_spool(uint64_t held_bytes, uint64_t max_bytes, bool reader_waiting, uint64_t now_ns);
  // The object could not be read (a pipe that ended early): every receiver not done fails, and
  // the session finishes with SendOutcome::kError.
  void on_source_failed(const std::string& error, uint64_t now_ns);

  // Actions, oldest first; nullopt when none is queued.
  std::optional<SenderAction> next_action();

  Phase phase() const { return phase_; }
  bool started() const { return started_; }
  bool finished() const { return phase_ == Phase::kFinished; }
  // --until: receivers may still join (the driver keeps announcing).
  bool joinable(uint64_t now_ns) const {
    return cfg_.until_ns != 0 && now_ns < cfg_.until_ns && phase_ != Phase::kFinished;
  }
  uint32_t cycles() const { return cycles_; }  // passes over the whole object's wanted blocks
  // A receiver has the session but has not said Ready: the driver beacons on the group.
  bool awaiting_ready() const;
  // The next time on_tick has something to decide (0 = none).
  uint64_t next_deadline_ns() const;

  const std::map<uint32_t, ReceiverRecord>& receivers() const { return receivers_; }
  const ReceiverRecord* receiver(uint32_t id) const;
  size_t count_admitted() const { return receivers_.size(); }
  size_t count_done() const;
  uint32_t passes() const { return passes_; }
  uint64_t frames_sent() const { return frames_sent_; }
  uint64_t repair_frames() const { return repair_frames_; }
  uint64_t interleaved_symbols() const { return interleaved_symbols_; }
  uint64_t data_start_ns() const { return t_data_; }  // 0 before the first pass
  bool data_begun() const { return data_begun_; }
  // --hosts entries no receiver has matched (so far; after the start: never joined).
  std::vector<std::string> hosts_missing() const;
  uint64_t rate_bps() const { return rate_bps_; }

 private:
  ReceiverRecord* find(uint32_t id);
  // Marks the first --hosts entry this receiver answers to (name, address or certificate name).
  void match_host(const ReceiverRecord& r);
  // Every change of a receiver's state, asked or answered goes through these: they keep the
  // counts below (and the failed-name index) exact, so the waits are O(1) per tick.
  void set_state(ReceiverRecord& r, ReceiverState state);
  void set_asked(ReceiverRecord& r, bool asked, bool answered);
  void set_answered(ReceiverRecord& r);
  void fail(ReceiverRecord& r, std::string reason);
  void on_ready(ReceiverRecord& r, const control::Ready& ready, uint64_t now_ns);
  // Serves `r` the whole object (what it lacks) over its connection, for `why`.
  void serve_by_unicast(ReceiverRecord& r, std::string why);
  // Fails the receivers that got the Session but did not say Ready in time.
  void fail_unconfirmed(uint64_t now_ns);
  void on_nak(ReceiverRecord& r, const control::Nak& nak);
  void on_done(ReceiverRecord& r, const control::Done& done, uint64_t now_ns);
  void on_relaying(ReceiverRecord& r, const control::Relaying& m, uint64_t now_ns);
  void on_downstream(ReceiverRecord& r, const control::Downstream& m);
  // Marks the first --hosts entry a receiver (direct or behind a relay) answers to.
  void match_host_of(const std::string& name, const std::string& addr, const std::string& identity);
  void on_progress(ReceiverRecord& r, const control::Progress& p);
  void on_fetch(ReceiverRecord& r, const control::Fetch& f);
  void step(uint64_t now_ns);
  void start(uint64_t now_ns);
  void begin_passes(uint64_t now_ns);
  void linger(uint64_t now_ns);
  void next_pass();
  void after_answers();
  // Slow receivers after pass `pass` (see the contract above).
  void classify_slow(uint32_t pass);
  void to_unicast_lane(ReceiverRecord& r, double share, uint32_t pass);
  uint64_t lacked_symbols(const std::vector<NeedRun>& needs) const;
  std::vector<RepairRange> feed_of(const std::vector<NeedRun>& needs);
  // Peer repair (sender_core_peers.cc). A unicast lane pass: from a serving peer when one is
  // free, else from the sender.
  void feed_lane(ReceiverRecord& r, uint32_t pass, std::vector<RepairRange> items);
  ReceiverRecord* pick_peer(const ReceiverRecord& straggler);
  void on_peer_offer(ReceiverRecord& r, const control::PeerOffer& offer);
  void on_peer_failed(ReceiverRecord& r, const control::PeerFailed& failed);
  // The straggler's pass ended (answered, or it is gone): its peer takes another, its sender lane
  // is free (lanes waiting get them from dispatch_lanes()).
  void release_peer(ReceiverRecord& r);
  void release_lane(ReceiverRecord& r);
  void dispatch_lanes();
  // A serving peer serves no more (its connection closed, or a straggler reported it failed).
  void stop_serving(ReceiverRecord& peer, const std::string& why);
  void release_idle_peers();
  void start_serving(ReceiverRecord& peer);
  // Fails `r` (true) when `runs` name a block the spool has let go.
  bool needs_released(ReceiverRecord& r, std::span<const control::NakRun> runs);
  // Counts the receiver's passes without progress; fails it (true) after kStallPasses.
  bool stalled(ReceiverRecord& r);
  void end_passes();
  void finish();
  void plan_full_pass();
  void log(action::Log::Level level, std::string text);
  void emit(std::string name, nlohmann::json fields);
  void push(SenderAction a) { actions_.push_back(std::move(a)); }

  SenderConfig cfg_;
  uint64_t start_ns_;
  Phase phase_ = Phase::kJoining;
  bool started_ = false;
  bool aborted_ = false;
  bool full_pass_planned_ = false;  // ranges_ holds pass 0 (plan_full_pass)
  std::map<uint32_t, ReceiverRecord> receivers_;
  // Receivers ... in kJoined (awaiting_ready), in kFailed, and active, asked and not answered.
  size_t joined_count_ = 0, failed_count_ = 0, unanswered_count_ = 0;
  // name -> ids that failed under that name (a superset: entries are checked when used), so a
  // rejoin supersedes its old entries without scanning every receiver.
  std::map<std::string, std::vector<uint32_t>, std::less<>> failed_by_name_;
  // name -> (relay id, row) of receivers a relay reported failed, superseded when one of that
  // name joins the sender itself.
  std::map<std::string, std::vector<std::pair<uint32_t, size_t>>, std::less<>> relayed_failed_;
  std::deque<SenderAction> actions_;
  uint64_t ready_deadline_ns_ = 0, answer_deadline_ns_ = 0;
  // The last Ready, before the first pass, of a receiver that heard the beacon (0: none yet).
  uint64_t heard_ready_ns_ = 0;
  RowState rows_;
  std::vector<RepairRange> ranges_;  // the next pass
  RepairPlan plan_;                  // the last repair step (its unicast part follows the pass)
  PlannerConfig planner_;
  PlannerScratch planner_scratch_;
  std::vector<ReceiverNeeds> needs_;  // the last repair step's input (capacity kept)
  uint32_t passes_ = 0;
  uint32_t cycle_first_pass_ = 0;  // --max-passes counts from here (a new cycle starts afresh)
  uint32_t cycles_ = 0;
  bool data_begun_ = false;
  uint64_t frames_sent_ = 0, repair_frames_ = 0, t_data_ = 0;
  uint64_t source_symbols_ = 0;  // of the whole object
  // lacked_symbols per run, not per block: the blocks whose k is below the largest, max_k_, in
  // order (usually none, or the last block alone).
  std::vector<uint32_t> short_blocks_;
  uint8_t max_k_ = 0;
  uint64_t rate_bps_ = 0;
  // Interleaved repair: receivers with a fresh Progress; rows wanted per block (touched blocks
  // listed, so a step costs O(blocks reported), not O(blocks)).
  std::vector<uint32_t> progress_ids_;
  std::vector<uint8_t> interleave_need_;
  std::vector<uint32_t> interleave_touched_;
  uint64_t interleaved_symbols_ = 0;
  bool source_failed_ = false;
  uint32_t spool_released_ = 0;          // blocks below this are gone from the spool (0: none)
  uint64_t spool_pressed_since_ns_ = 0;  // the spool is full, or nearly, since (0: it is not)
  std::vector<bool> host_joined_;        // per cfg_.hosts entry
  bool peers_expected_ = false;          // some receiver offered, or will, to serve peers
  uint32_t sender_lanes_ = 0;            // lane passes the sender feeds now (kSenderLanes)
  std::vector<uint32_t> serving_;        // receivers that serve peers now (ReceiverRecord::serving)
  std::deque<uint32_t> lane_queue_;      // receivers whose lane pass waits (lane_queued)
  size_t hosts_joined_ = 0;
};

}  // namespace shoal::session
