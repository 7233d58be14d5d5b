// PeerFetch: a straggler takes one unicast lane pass from the peer the sender assigned
// (control::PeerAssign; the server side is peer_server.h). It connects, proves the key (the
// join's handshake, this side the client), sends the assignment on, and hands each Repair to
// on_symbol; the pass ends with the peer's PassEnd, or fails (refused, closed, a protocol error,
// nothing received for kPeerStallNs). Either way on_end runs once, outside any callback of the
// connection (from tick()), and the owner then answers the pass to the sender.
// Not thread-safe: the loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "control/auth.h"
#include "control/connection.h"

namespace shoal::session {

// Connecting to a peer waits at most this long (the receive loop waits with it).
inline constexpr int kPeerConnectTimeoutMs = 1000;

class PeerFetch {
 public:
  struct Callbacks {
    // An error fails the pass (a malformed symbol: the peer's fault, the sender serves instead).
    std::function<Status(const control::Repair&)> on_symbol;
    // failure: "" when the peer served the whole pass.
    std::function<void(uint32_t pass, const std::string& failure)> on_end;
  };
  // key: nullopt = insecure (--insecure on both ends). Connects now: a failure shows at the next
  // tick().
  PeerFetch(control::EventLoop& loop, control::PeerAssign assign, std::optional<control::Key> key,
            std::string name, uint64_t now_ns, Callbacks callbacks);
  ~PeerFetch();
  PeerFetch(const PeerFetch&) = delete;
  PeerFetch& operator=(const PeerFetch&) = delete;

  // Calls on_end once the pass ended or failed (or stalled at now_ns).
  void tick(uint64_t now_ns);
  bool ended() const { return ended_; }
  const std::string& address() const { return assign_.address; }
  uint64_t symbols() const { return symbols_; }

 private:
  void on_message(const control::Message& m);
  void fail(std::string why);

  control::PeerAssign assign_;
  Callbacks cb_;
  std::shared_ptr<control::Connection> conn_;
  std::optional<control::ClientHandshake> hs_;
  uint64_t last_ns_ = 0;  // when the last message was seen (at a tick)
  uint64_t messages_ = 0, seen_messages_ = 0;
  uint64_t symbols_ = 0;
  bool served_ = false;  // the peer's PassEnd came
  std::string failure_;  // the first reason it failed
  bool ended_ = false;   // on_end ran
};

}  // namespace shoal::session
