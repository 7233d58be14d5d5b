// JoinServer: the control plane's front door, shared by `shoal send` and `shoal probe`. It owns the
// TCP listener and everything up to a completed join: the TLS/PSK preamble (a TLS context from
// the certificate files, the rule that some authentication is configured), the admission policy
// (--allow addresses before a byte is read, cn: names at the first message, the connection cap,
// the join deadline, the small message cap until joined) and the mutual handshake. A peer that
// completes it is handed to the owner with its connection; from then on the server only forwards
// that peer's messages and its close, until the owner releases it.
//
// Lifetime: the loop outlives the server; the server outlives every JoinedPeer::conn use (the
// connections are the server's). Not thread-safe: the loop's thread only.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "control/admission.h"
#include "control/auth.h"
#include "control/connection.h"
#include "control/event_loop.h"
#include "control/listener.h"
#include "control/tls.h"

namespace shoal::control {

struct JoinServerOptions {
  std::string listen = "0.0.0.0:9100";  // control-plane TCP address (port 0 = ephemeral)
  std::optional<Key> key;               // pre-shared key (nullopt: TLS alone, or insecure)
  bool insecure = false;                // accept receivers without any authentication
  TlsFiles tls;                         // TLS 1.3 with mutual certificates
  AdmissionOptions admission;           // --allow, --handshake-timeout, --max-receivers
};

// A receiver that completed the join.
struct JoinedPeer {
  uint32_t id = 0;             // the server's id for it (also in its Accept)
  Connection* conn = nullptr;  // owned by the server; valid until release(id) or its close
  std::string name;            // from its Hello (untrusted text: escape before logging)
  std::string addr;            // "a.b.c.d:port"
  std::string identity;        // TLS certificate CN ("" without TLS)
  std::optional<Key> channel;  // key that protects what is sealed for it (KeyGrant)
};

class JoinServer {
 public:
  struct Callbacks {
    std::function<void(const JoinedPeer&)> on_joined;
    // A joined peer's message (never called for peers still joining).
    std::function<void(uint32_t id, const Message&)> on_message;
    // A joined peer's connection ended (after on_joined only), with the reason.
    std::function<void(uint32_t id, const std::string& why)> on_closed;
  };

  // Errors: bad --listen, TLS files that do not load, no authentication configured, a bad
  // --allow entry; each message names the option to fix.
  static Result<std::unique_ptr<JoinServer>> create(EventLoop& loop, const JoinServerOptions& o,
                                                    Callbacks callbacks);
  ~JoinServer();
  JoinServer(const JoinServer&) = delete;
  JoinServer& operator=(const JoinServer&) = delete;

  uint16_t port() const;  // the bound port (for --listen with port 0)
  // Drops peers whose join is past the deadline; call every few ms from the owner's loop (the
  // server reads no clock of its own: now_ns is common/clock.h's monotonic_ns()).
  void expire(uint64_t now_ns);
  // The owner is done with a joined peer: its connection (if still open) is finished with
  // `why` (what the owner queued on it is sent first), and its slot counts no more against
  // --max-receivers. No callback runs for it afterwards. Unknown or still-joining ids are
  // ignored. May be called from any callback.
  void release(uint32_t id, const std::string& why);
  // Peers still in the handshake, and joined peers not yet released.
  size_t joining() const;
  size_t joined() const;
  // Released peers whose connection is still sending its last messages (a Bye, a verdict); an
  // owner about to exit polls the loop until this is 0, or a deadline passes.
  size_t closing() const;
  bool tls() const;  // TLS in use on every connection

 private:
  struct State;
  explicit JoinServer(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace shoal::control
