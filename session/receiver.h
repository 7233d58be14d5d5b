// The receiver's driver: connects to the sender, authenticates, receives the object over
// multicast (plus unicast repair), verifies it and commits it under its final name.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/event_log.h"
#include "control/auth.h"
#include "control/messages.h"
#include "control/tls.h"
#include "engine/transport_select.h"
#include "session/receiver_control.h"

namespace shoal::session {

// A relay's segment, as its upstream sender learns it: every receiver there, and whether all
// verified the object (and why not).
struct RelayOutcome {
  bool ok = false;
  std::string reason;
  std::vector<control::Downstream> receivers;
};

struct RecvOptions {
  std::string sender;               // "198.18.0.1:9100"
  std::string iface;                // interface to join the group on ("" = route to the group)
  std::optional<control::Key> key;  // nullopt with insecure = no authentication
  bool insecure = false;
  control::TlsFiles tls;  // TLS 1.3 on the control connection (mutual certificates)
  std::string out;        // final path of the object
  std::string name;       // shown in the sender's summary ("" = host name)
  uint64_t connect_timeout_ns = 30'000'000'000;  // keep retrying a sender that is not up yet
  uint64_t max_memory = uint64_t{1} << 30;       // bound on open-block buffers
  int rcvbuf = 64 << 20;
  bool verify_thread = true;  // blocks hashed on a thread of their own when 2+ CPUs are usable
  engine::TransportChoice transport;         // --transport, --dpdk, --dpdk-port
  std::string sync = "end";                  // end | periodic | none
  bool force = false;                        // overwrite a mounted block device
  bool resume = true;                        // keep/reuse partial data and its state across runs
  std::string state_dir = "/var/lib/shoal";  // resume state for block devices
  std::string spool;                         // packed objects (trees, zstd) before unpacking
  bool zero_holes = false;                   // zstd onto a block device: zero holes, not skip
  bool progress = false;                     // progress line on stderr
  std::string json_path;                     // write a JSON result here ("-" = stdout)
  int out_fd = 1;                            // where --out - writes: stdout, or a relay's pipe
  std::function<void()> out_streamed;        // --out -: the whole object went (or it stopped)
  bool pipe_any_format = false;              // --out - takes packed objects as they are (relay)
  bool unicast_only = false;  // Ready at once, without the beacon wait (relay --from-unicast)
  // --serve-peers: once verified, serve the object to stragglers the sender assigns (peer
  // repair, session/peer_server.h) until the session ends; listening on peer_listen ("" = the
  // address this receiver reaches the sender from, any free port). Plain objects written to a
  // file or a device only.
  bool serve_peers = false;
  std::string peer_listen;
  // A relay's upstream side (relay/relay.h). Set, the receiver says Relaying{relay_segment}
  // instead of Done once its copy is verified, asks relay_outcome() on every tick until it has
  // its segment's outcome, reports each receiver there (Downstream) and then says Done with it.
  std::function<std::optional<RelayOutcome>()> relay_outcome;
  std::string relay_segment;
  // Called once the session is accepted, before any data (a relay starts its downstream then).
  std::function<void(const control::Session&)> on_session;

  // Refuse any other session, and one of another object (shoal recvd, recv --announce: the one
  // that was announced).
  std::optional<AnnouncedSession> announced;
  // --events: JSON Lines as the session goes (opened by the caller; closed = none).
  EventLog events;
};

// The mistakes in `options` that need no sender (--iface unknown, --out's directory missing),
// so a caller that waits before connecting (recv --announce) can report them first.
Status check_local_options(const RecvOptions& options);

// How a run ended. Failures were logged already; `reason` says why for callers that report it.
struct RecvResult {
  bool ok = false;         // the object was verified and committed (a probe: it ended normally)
  bool bad_input = false;  // refused before connecting: options, key, TLS files
  std::string reason;      // why it failed ("" when ok)
};

// The process exit status of a run: 0 verified, 2 bad input, 1 any other failure.
inline int exit_status(const RecvResult& r) {
  return r.ok ? 0 : r.bad_input ? 2 : 1;
}

RecvResult run_receiver(const RecvOptions& options);

}  // namespace shoal::session
