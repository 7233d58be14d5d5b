// ReceiverControl: the receiver's session logic after the join, without I/O. Control messages
// and clock ticks in (the caller passes `now_ns`); actions out, and the outcome. The driver
// (receiver.cc) owns the connection, the data plane, the sink and the clock, and tells this
// class what it did (session_started, on_done_sent) or what went wrong (fail).
//
// The session, in order:
//   Session        checked (the announced one, a layout that holds together, only one)
//   KeyGrant       -> OpenSession: the driver opens the key, the sink, the core and the group,
//                     then calls session_started(now) (or fail() saying why not)
//   Manifest...    block hashes in order, while data flows -> TakeManifest (the driver checks
//                     the tag and hands them to the core)
//   ManifestEnd    after the last hash, before any PassEnd -> TakeManifestEnd (tag checked by
//                     the driver); its object SHA-256 is what the receiver reports
//   Ready          when the sender's beacon was heard, or kBeaconWaitNs after the start
//                     (echo 0: multicast does not reach this receiver) -> SendReady
//   (data flows)   every Session.progress_interval_ms (none if 0) while new data frames arrive
//                     and blocks are still incomplete, between Ready and the next PassEnd
//                     -> SendProgress
//   Horizon        any time after the KeyGrant -> TakeHorizon (bounds the replay window)
//   PassEnd        answered once the socket is drained: quiet for kDrainQuietNs and empty, or
//                     kDrainMaxNs after the PassEnd -> SendNak, or Commit when every block is in
//   PeerAssign     a unicast lane pass from a peer (after the whole manifest, like a PassEnd)
//                     -> FetchFromPeer; the driver hands the peer's PassEnd (or its own, when
//                     the peer failed) back through on_message, as the sender's would be
//   Done           the driver commits, sends Done and calls on_done_sent(); a verified Done
//                  waits for the sender's acknowledgement (Bye kFinished, sent at once) up to
//                  kDoneAckWaitNs, then finishes either way: the object is committed, so the
//                  outcome does not depend on the Bye; ack_missing() says it never came.
// Anything out of order fails the session with a reason naming it; the first reason wins.
// Messages after a failure are still taken in (as the receive loop always did): the driver stops
// at finished().
//
// Not thread-safe; one per connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"
#include "control/messages.h"

namespace shoal::session {

inline constexpr uint64_t kDrainQuietNs = 10'000'000;      // socket empty and quiet this long
inline constexpr uint64_t kDrainMaxNs = 3'000'000'000;     // never wait longer to answer a PassEnd
inline constexpr uint64_t kBeaconWaitNs = 3'000'000'000;   // Ready without a beacon after this
inline constexpr uint64_t kDoneAckWaitNs = 5'000'000'000;  // for the sender's Bye after Done
// At most this many runs in one Progress report (~2.3 KB).
inline constexpr size_t kProgressMaxRuns = 256;

// What an announcement promised (shoal recvd, recv --announce chose the destination and the
// hook's object name from it): the Session the sender then describes must be that very object.
struct AnnouncedSession {
  uint64_t session_id = 0;
  std::string object_name;
  uint64_t object_size = 0;
};

class ReceiverControl {
 public:
  enum class Outcome { kRunning, kDone, kFailed };

  // What a message asks of the driver.
  struct OpenSession {  // the session is described: open it with these
    control::Session session;
    control::KeyGrant grant;
  };
  struct TakeManifest {};     // check the Manifest's tag, hand its hashes to the core
  struct TakeManifestEnd {};  // check the ManifestEnd's tag
  struct TakeRepair {};       // hand the Repair to the core (if it was created)
  struct TakeHorizon {};      // hand the sender's Horizon to the core's replay window
  struct ForwardProbe {};     // `shoal probe`: hand the Probe to the probe receiver
  struct FetchFromPeer {};    // take the PeerAssign's pass from that peer (session/peer_fetch.h)
  struct Unexpected {};       // a message with no place after the join: log and ignore it
  using Reaction = std::variant<std::monostate, OpenSession, TakeManifest, TakeManifestEnd,
                                TakeRepair, TakeHorizon, ForwardProbe, FetchFromPeer, Unexpected>;

  // What a tick asks of the driver.
  struct SendReady {  // the initial NAK (kInitialPass), then Ready{beacon_echo}
    uint64_t beacon_echo;
  };
  struct SendNak {  // the NAK for `pass`
    uint32_t pass;
  };
  struct Commit {  // every block is in: commit, unpack, send Done, then on_done_sent()
    uint32_t pass;
  };
  struct SendProgress {};  // the core's Progress report (ReceiverCore::make_progress), if any
  using Action = std::variant<SendReady, SendNak, Commit, SendProgress>;

  // What the driver knows at a tick.
  struct Tick {
    uint64_t now_ns = 0;
    uint64_t last_datagram_ns = 0;  // when the data plane last delivered datagrams (0: never)
    bool socket_empty =
        true;               // no unread datagram in the kernel, no block being checked or written
    bool complete = false;  // every block verified
    uint64_t beacon_nonce = 0;  // of the last authentic beacon heard (0: none)
    uint64_t data_frames = 0;   // authentic multicast data frames received so far
  };

  // announced: refuse any other session, and a session that describes another object than the
  // announcement did (shoal recvd, recv --announce).
  explicit ReceiverControl(std::optional<AnnouncedSession> announced = std::nullopt)
      : announced_(std::move(announced)) {}

  // A message from the sender after the join, received at now_ns.
  Reaction on_message(const control::Message& message, uint64_t now_ns);
  // The next action due at this tick, or none. Call again until none: each action is taken as
  // done when returned (Commit: once the driver reports on_done_sent()).
  std::optional<Action> next_action(const Tick& tick);

  // The driver opened the session (sink, core, group) at now_ns: Ready is awaited from now.
  void session_started(uint64_t now_ns);
  // How long Ready waits for a beacon (kBeaconWaitNs); 0: Ready at once, with what was heard by
  // then (a relay that knows the multicast cannot reach it: relay --from-unicast).
  void set_beacon_wait(uint64_t ns) { beacon_wait_ns_ = ns; }
  // The driver sent Done at now_ns; `result` is the commit's (ok: the object is verified and in
  // place): the sender's Bye is awaited from now.
  void on_done_sent(const Status& result, uint64_t now_ns);
  // It serves peers after its Done (control::PeerOffer): the sender's Bye comes at the session's
  // end, however long that is, and is awaited without a deadline.
  void serve_after_done() { serve_after_done_ = true; }
  // The control connection closed.
  void on_connection_closed(const std::string& why);
  // A failure found by the driver (refused join, disk, key, ...). The first reason wins.
  void fail(std::string reason);
  // Ends without an outcome (the probe ended; it reports for itself).
  void finish() { finished_ = true; }

  bool finished() const { return finished_; }
  Outcome outcome() const { return outcome_; }
  const std::string& reason() const { return reason_; }  // why it failed
  // A Session was accepted; its description (valid when has_session()).
  bool has_session() const { return session_.has_value(); }
  const control::Session& session() const { return *session_; }
  // The object's SHA-256 from the ManifestEnd (nullopt before it).
  const std::optional<control::Digest>& object_sha256() const { return object_sha256_; }
  // A PassEnd waits for the socket to drain (the driver polls the clock more often).
  bool draining() const { return pending_pass_.has_value(); }
  bool done_sent() const { return done_sent_; }
  // Done, and the sender did not acknowledge it (no Bye within kDoneAckWaitNs, or a hang-up).
  bool ack_missing() const { return ack_missing_; }
  // Passes answered so far (the last answered pass + 1).
  uint32_t passes() const { return passes_; }

 private:
  void on_session(const control::Session& s);

  std::optional<AnnouncedSession> announced_;
  std::optional<control::Session> session_;
  uint32_t hashes_ = 0;                           // block hashes received so far (in order)
  std::optional<control::Digest> object_sha256_;  // from the ManifestEnd
  bool opened_ = false;                           // OpenSession was handed out
  bool awaiting_beacon_ = false;
  uint64_t beacon_wait_ns_ = kBeaconWaitNs;
  uint64_t start_ns_ = 0;
  std::optional<uint32_t> pending_pass_;
  uint64_t pass_end_ns_ = 0;
  uint32_t passes_ = 0;
  bool committing_ = false;
  bool done_sent_ = false;
  uint64_t ack_deadline_ns_ = 0;  // a verified Done waits for the Bye until then
  bool ack_missing_ = false;
  bool serve_after_done_ = false;
  bool ready_sent_ = false;
  uint64_t progress_ns_ = 0, progress_frames_ = 0;  // the last Progress report
  bool finished_ = false;
  Outcome outcome_ = Outcome::kRunning;
  std::string reason_;
};

}  // namespace shoal::session
