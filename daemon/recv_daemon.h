// `shoal recvd`: a receiver that stays up, listens for session announcements (announce/announce.h)
// and runs the sessions its policy allows, then an optional post-receive hook.
//
// Policy, in order: the announcement must pass the checks every receiver applies
// (announce/announce_listener.h: authentic as announce::accept_unsigned_announcements() says,
// signed with one of the daemon's keys or unsigned where that is allowed; fresh, not a replay); its
// object name must be safe as a file name and match a --map rule, whose destination it gets; no
// other running session may be writing that destination; fewer than --max-sessions may run. A
// session refused by policy is logged once and then ignored; one deferred for lack of a slot is
// taken up by a later announcement of it, if the sender is still announcing.
//
// Each accepted session runs in a child process (fork, then session::run_receiver against the
// announced control address). Why a process and not a thread: run_receiver has no cancel hook,
// and a process can be stopped at any instant without harm (the receiver writes to a temporary
// name and renames only a verified object, and its resume state never names data that is not on
// disk), so SIGTERM handling needs no cooperation from the receiver; a failing or crashing
// session cannot take the daemon or its other sessions down, nor leak memory or descriptors into
// the next; and DPDK's EAL is per process. The child writes its JSON result (outcome, verified
// SHA-256) to a pipe the daemon reads when it exits.
//
// The hook runs as `HOOK PATH SHA256_HEX` (no shell) with SHOAL_PATH, SHOAL_SHA256, SHOAL_OBJECT,
// SHOAL_SIZE, SHOAL_SESSION (16 hex digits) and SHOAL_SENDER (ADDR:PORT) in its environment, only
// after the object was verified and renamed into place; it is killed after --hook-timeout.
//
// Authentication: an announcement only says where to connect; what
// authenticates the sender is the session's control connection. With pre-shared keys the daemon
// accepts only announcements signed with one of them and joins with that key (and TLS too when it
// has certificates: a configured key is never silently dropped). With TLS certificates and no key
// there is nothing to verify a tag with, and `shoal send --announce` with TLS and no key sends
// unsigned announcements: the daemon accepts them and joins with TLS alone. That is safe for the
// data: a forged announcement makes the daemon connect to a host that must then pass the mutual
// TLS handshake (a certificate from the daemon's --tls-ca), as a --sender given by hand would;
// without one the handshake is refused and nothing is written. What an unsigned announcement does
// allow is denial of service: anyone who can send to the announce group can keep the daemon's
// session slots busy with sessions that fail, or make it skip a real session by announcing its id
// first with another address. Add a key on both ends where that matters (docs/security.md).
// --insecure accepts unsigned announcements and joins without any authentication.
//
// Monitoring: --metrics (Prometheus), --events, --status and --json (daemon/recvd_status.h).
//
// SIGTERM or SIGINT: stop listening, stop running sessions (their partial data stays for a resume,
// never under the final name), let running hooks finish (up to --hook-timeout), exit 0.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "announce/announce_listener.h"  // announce::accept_unsigned_announcements
#include "common/result.h"
#include "control/auth.h"
#include "daemon/recv_policy.h"
#include "session/receiver.h"

namespace shoal::daemon {

struct DaemonOptions {
  std::string announce;            // "GROUP:PORT"
  std::vector<control::Key> keys;  // announcements signed with any of these are accepted
  bool insecure = false;           // accept unsigned ones and join without authentication
  std::vector<MapRule> rules;      // at least one
  unsigned max_sessions = 1;       // sessions running at once
  std::string hook;                // program run after each verified object ("" = none)
  uint64_t hook_timeout_ns = 600'000'000'000;
  uint64_t max_skew_ms = 300'000;  // 0 = do not check announcement timestamps
  // Template for each session: iface, memory, sync, tls (the daemon's certificates, used by every
  // session's control connection), ... Its key and insecure are set per session.
  session::RecvOptions receiver;
  std::string metrics;  // Prometheus endpoint address ("" = none)
  // Monitoring (daemon/recvd_status.h): --events (JSON lines, "-" = stdout), --status (the
  // status document, rewritten atomically on every change), --json (the same, at exit).
  std::string events, status, json;
};

// The receive options of one accepted session: the daemon's template with the announced `sender`
// (ADDR:PORT), the destination and the session id, joined with the key that signed the
// announcement (key_index >= 0, an index into options.keys; out of range throws
// std::out_of_range), else with TLS alone when the daemon has certificates, else without
// authentication, but only when the daemon runs --insecure.
// `announced`: the session and object the announcement named; a Session of another object is
// refused (the destination was chosen by the announced name).
session::RecvOptions session_receive_options(const DaemonOptions& options,
                                             const session::AnnouncedSession& announced,
                                             int key_index, const std::string& sender,
                                             const std::string& dest);

// Runs until SIGTERM/SIGINT. Returns the exit status: 0 after a clean stop, 2 for bad options
// (no rule, no usable authentication or an unreadable TLS file, unusable hook, bad group or
// interface), 1 when the announce socket fails.
int run_recv_daemon(const DaemonOptions& options);

}  // namespace shoal::daemon
