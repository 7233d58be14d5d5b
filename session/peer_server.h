// PeerServer: a receiver that verified the object serves its symbols to the stragglers the sender
// assigns it (peer repair, control::PeerAssign), from the object as written, so a unicast lane's
// bytes leave this receiver's link instead of the sender's.
//
// Per connection: the join's PSK handshake (control/auth.h, this side the server), then one
// PeerAssign of this session (another session's is refused), then its ranges as Repair messages
// (plain symbols: source rows straight from the mapped object, repair rows encoded here), paced
// by what the connection drains, then PassEnd{pass}; the straggler closes. Every block is checked
// against its manifest hash at the straggler, as always, so a peer cannot make it accept a wrong
// byte. At most max_clients connections at once; one more gets a Reject ("... is full"). Until it
// has proved the key a connection may send 4 KiB messages at most and must do so within
// kPeerHandshakeNs (tick()), so idle or slow connections cannot hold the places.
// Not thread-safe: the loop's thread.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "control/auth.h"
#include "control/connection.h"
#include "control/listener.h"
#include "fec/layout.h"
#include "object/object_source.h"
#include "session/symbol_source.h"

namespace shoal::session {

inline constexpr uint64_t kPeerHandshakeNs = 5'000'000'000;

class PeerServer {
 public:
  struct Options {
    sockaddr_in listen{};             // port 0: any free port
    std::optional<control::Key> key;  // nullopt: insecure (both ends must be)
    uint64_t session_id = 0;
    fec::BlockLayout layout;
    std::string path;  // the verified object (a file, or a device holding it at offset 0)
    size_t max_clients = control::kPeerMaxClients;
  };

  // Maps the object and listens. Errors name the path or the address.
  static Result<std::unique_ptr<PeerServer>> start(control::EventLoop& loop, Options options);
  ~PeerServer();
  PeerServer(const PeerServer&) = delete;
  PeerServer& operator=(const PeerServer&) = delete;

  // Closes connections that have not proved the key within kPeerHandshakeNs of connecting.
  void tick(uint64_t now_ns);
  uint16_t port() const { return listener_->port(); }
  uint64_t symbols_served() const { return symbols_served_; }
  uint64_t assignments_served() const { return assignments_served_; }
  size_t clients() const { return clients_.size(); }

 private:
  struct Client {
    std::shared_ptr<control::Connection> conn;
    control::ConnectionSlot slot;
    control::ServerHandshake hs;
    std::optional<control::PeerAssign> assign;
    size_t next = 0;        // the next range of the assignment
    uint64_t since_ns = 0;  // connected (0: not seen by a tick yet)
  };
  PeerServer(control::EventLoop& loop, Options options, object::ObjectSource object,
             SymbolSource symbols);
  void on_accept(Fd fd, control::ConnectionSlot slot);
  void on_message(uint32_t id, const control::Message& m);
  // Queues the assignment's symbols while the connection has room; PassEnd after the last.
  void feed(uint32_t id);
  void drop(uint32_t id, const std::string& why);

  control::EventLoop& loop_;
  Options opt_;
  object::ObjectSource object_;
  SymbolSource symbols_;
  std::unique_ptr<control::Listener> listener_;
  std::map<uint32_t, Client> clients_;
  uint32_t next_id_ = 1;
  std::vector<uint8_t> encode_buf_;
  uint64_t symbols_served_ = 0, assignments_served_ = 0;
};

}  // namespace shoal::session
