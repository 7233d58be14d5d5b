#include "control/join_server.h"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/printable.h"
#include "control/endpoint.h"

namespace shoal::control {

namespace {

enum class Stage {
  kJoining,   // in the handshake; closed at its deadline
  kRefused,   // refused or timed out: its connection is ending, nobody is told
  kJoined,    // handed to the owner; messages and the close are forwarded
  kClosed,    // joined, its connection ended, the owner has not released it yet
  kReleased,  // the owner is done with it; the connection sends its last bytes
};

}  // namespace

struct JoinServer::State {
  struct Peer {
    JoinedPeer info;
    std::shared_ptr<Connection> conn;
    ConnectionSlot slot;  // counts against --max-receivers while held
    std::optional<ServerHandshake> hs;
    uint64_t connected_ns = 0;
    Stage stage = Stage::kJoining;
  };

  State(EventLoop& l, const JoinServerOptions& o, Callbacks c)
      : loop(l), opt(o), cb(std::move(c)) {}

  void on_accept(Fd fd, const sockaddr_in& from, ConnectionSlot slot);
  void on_message(uint32_t id, const Message& m);
  void on_close(uint32_t id, const std::string& why);
  void handshake(Peer& p, const Message& m);
  size_t count(Stage stage) const;

  EventLoop& loop;
  JoinServerOptions opt;
  Callbacks cb;
  std::shared_ptr<TlsContext> tls;
  std::optional<Admission> admission;
  std::unique_ptr<Listener> listener;
  std::map<uint32_t, Peer> peers;  // destroyed before the listener: slots go back to it
  uint32_t next_id = 1;
};

Result<std::unique_ptr<JoinServer>> JoinServer::create(EventLoop& loop, const JoinServerOptions& o,
                                                       Callbacks callbacks) {
  auto s = std::make_unique<State>(loop, o, std::move(callbacks));
  auto tls = tls_context_for(TlsContext::Role::kServer, o.tls);
  if (!tls) return make_error(tls.error());
  s->tls = std::move(*tls);
  if (Status a = require_authentication(o.key.has_value(), o.insecure, s->tls != nullptr); !a)
    return make_error(a.error());
  if (o.insecure) spdlog::warn("--insecure: any host that reaches the control port can join");
  auto admission = Admission::create(o.admission, s->tls != nullptr);
  if (!admission) return make_error(admission.error());
  s->admission.emplace(std::move(*admission));
  auto ep = parse_endpoint(o.listen);
  if (!ep) return make_error("--listen: " + ep.error());
  State* state = s.get();
  auto listener = Listener::create(loop, *ep, s->admission->max_connections(),
                                   [state](Fd fd, const sockaddr_in& from, ConnectionSlot slot) {
                                     state->on_accept(std::move(fd), from, std::move(slot));
                                   });
  if (!listener) return make_error(listener.error());
  s->listener = std::move(*listener);
  return std::unique_ptr<JoinServer>(new JoinServer(std::move(s)));
}

JoinServer::JoinServer(std::unique_ptr<State> state) : s_(std::move(state)) {}

// Connections still open are dropped quietly (Connection's destructor calls no callback).
JoinServer::~JoinServer() = default;

void JoinServer::State::on_accept(Fd fd, const sockaddr_in& from, ConnectionSlot slot) {
  if (!admission->address_allowed(from)) {
    // Closed before a byte is read: a host outside --allow learns nothing and costs nothing.
    spdlog::warn("refused {}: not in --allow", format_endpoint(from));
    return;
  }
  const uint32_t id = next_id++;
  Peer& p = peers[id];
  p.info.id = id;
  p.info.addr = format_endpoint(from);
  p.slot = std::move(slot);
  p.connected_ns = monotonic_ns();
  p.hs.emplace(opt.insecure ? std::nullopt : opt.key, id, random_nonce());
  Connection::Callbacks ccb;
  ccb.on_message = [this, id](Connection&, const Message& m) { on_message(id, m); };
  ccb.on_close = [this, id](Connection&, const std::string& why) { on_close(id, why); };
  Connection::Limits limits;
  limits.max_message_size = Admission::kJoinMessageLimit;  // raised once it has joined
  auto conn = Connection::create(loop, std::move(fd), ccb, limits, tls);
  if (!conn) {
    spdlog::warn("cannot serve {}: {}", p.info.addr, conn.error());
    peers.erase(id);
    return;
  }
  p.conn = std::move(*conn);
  p.conn->id = id;
  p.info.conn = p.conn.get();
}

void JoinServer::State::on_message(uint32_t id, const Message& m) {
  auto it = peers.find(id);
  if (it == peers.end()) return;
  Peer& p = it->second;
  if (p.stage == Stage::kJoining) return handshake(p, m);
  if (p.stage == Stage::kJoined && cb.on_message) cb.on_message(id, m);
}

// One handshake step. finish() may close the connection at once, and on_close erases the peer:
// nothing touches `p` after it.
void JoinServer::State::handshake(Peer& p, const Message& m) {
  // A message arrived, so a TLS handshake is complete: check the certificate's name first.
  if (p.hs->state() == ServerHandshake::State::kAwaitHello) {
    if (auto why = admission->identity_refused(*p.conn)) {
      spdlog::warn("refused {}: {}", p.info.addr, *why);
      p.conn->send(Reject{*why});
      p.stage = Stage::kRefused;
      p.conn->finish(*why);
      return;
    }
  }
  Message reply = p.hs->on_message(m);
  p.conn->send(reply);
  if (const auto* rej = std::get_if<Reject>(&reply)) {
    spdlog::warn("refused {} ({}): {}", p.info.addr, printable(p.hs->receiver_name()), rej->reason);
    p.stage = Stage::kRefused;
    p.conn->finish(rej->reason);
    return;
  }
  if (!p.hs->accepted()) return;
  // The name is the peer's own choice and only ever shown (logs, reports, events): escaped once
  // here, so no log line that names a receiver can be forged through it.
  p.info.name = printable(p.hs->receiver_name());
  const TlsStream* t = p.conn->tls();
  p.info.channel = channel_key_of(p.hs->channel_key(), t ? t->channel_key() : std::optional<Key>());
  if (t) p.info.identity = t->peer_common_name();
  p.conn->set_max_message_size(kMaxMessageSize);
  p.stage = Stage::kJoined;
  if (cb.on_joined) cb.on_joined(p.info);
}

void JoinServer::State::on_close(uint32_t id, const std::string& why) {
  auto it = peers.find(id);
  if (it == peers.end()) return;
  Peer& p = it->second;
  switch (p.stage) {
    case Stage::kJoining:
      spdlog::warn("{} left during the handshake: {}", p.info.addr, why);
      peers.erase(it);
      return;
    case Stage::kRefused:
    case Stage::kReleased:
      peers.erase(it);
      return;
    case Stage::kJoined:
      p.stage = Stage::kClosed;
      if (cb.on_closed) cb.on_closed(id, why);  // may release (erase) it
      return;
    case Stage::kClosed:
      return;
  }
}

size_t JoinServer::State::count(Stage stage) const {
  size_t n = 0;
  for (const auto& [id, p] : peers) n += p.stage == stage ? 1 : 0;
  return n;
}

uint16_t JoinServer::port() const {
  return s_->listener->port();
}

void JoinServer::expire(uint64_t now_ns) {
  std::vector<uint32_t> late;
  for (const auto& [id, p] : s_->peers) {
    if (p.stage == Stage::kJoining && p.conn->is_open() &&
        s_->admission->join_expired(p.connected_ns, now_ns))
      late.push_back(id);
  }
  // close() runs on_close, which erases the peer: look each one up again.
  for (uint32_t id : late) {
    auto it = s_->peers.find(id);
    if (it == s_->peers.end()) continue;
    spdlog::warn("dropped {}: no complete join within {:.0f}s", it->second.info.addr,
                 s_->admission->handshake_timeout_s());
    it->second.stage = Stage::kRefused;
    it->second.conn->close("join timed out");
  }
}

void JoinServer::release(uint32_t id, const std::string& why) {
  auto it = s_->peers.find(id);
  if (it == s_->peers.end()) return;
  State::Peer& p = it->second;
  if (p.stage != Stage::kJoined && p.stage != Stage::kClosed) return;
  p.slot.release();
  if (!p.conn->is_open()) {
    s_->peers.erase(it);
    return;
  }
  p.stage = Stage::kReleased;
  p.conn->finish(why);  // may close at once and erase the peer
}

size_t JoinServer::joining() const {
  return s_->count(Stage::kJoining);
}

size_t JoinServer::joined() const {
  return s_->count(Stage::kJoined) + s_->count(Stage::kClosed);
}

size_t JoinServer::closing() const {
  return s_->count(Stage::kReleased);
}

bool JoinServer::tls() const {
  return s_->tls != nullptr;
}

}  // namespace shoal::control
