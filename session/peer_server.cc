#include "session/peer_server.h"

#include <spdlog/spdlog.h>

#include "common/event_log.h"

namespace shoal::session {

namespace {
// Symbols queued per connection at most: the rest follows as TCP drains it.
constexpr size_t kQueueBytes = size_t{4} << 20;
// Messages before the key is proved are a few hundred bytes.
constexpr size_t kJoinMessageLimit = 4096;
}  // namespace

Result<std::unique_ptr<PeerServer>> PeerServer::start(control::EventLoop& loop, Options o) {
  auto object = object::ObjectSource::open(o.path);
  if (!object) return make_error("cannot serve peers: " + object.error());
  if (object->size() < o.layout.object_size()) {
    return make_error("cannot serve peers: '" + o.path + "' holds " +
                      std::to_string(object->size()) + " bytes, the object " +
                      std::to_string(o.layout.object_size()));
  }
  auto symbols = SymbolSource::make(object->bytes().first(o.layout.object_size()), o.layout);
  if (!symbols) return make_error("cannot serve peers: " + symbols.error());
  std::unique_ptr<PeerServer> s(
      new PeerServer(loop, std::move(o), std::move(*object), std::move(*symbols)));
  PeerServer* self = s.get();
  auto listener =
      control::Listener::create(loop, s->opt_.listen, s->opt_.max_clients,
                                [self](Fd fd, const sockaddr_in&, control::ConnectionSlot slot) {
                                  self->on_accept(std::move(fd), std::move(slot));
                                });
  if (!listener) return make_error("cannot serve peers: " + listener.error());
  s->listener_ = std::move(*listener);
  return s;
}

PeerServer::PeerServer(control::EventLoop& loop, Options options, object::ObjectSource object,
                       SymbolSource symbols)
    : loop_(loop),
      opt_(std::move(options)),
      object_(std::move(object)),
      symbols_(std::move(symbols)) {}

// Connections still open are dropped quietly (Connection's destructor calls no callback).
PeerServer::~PeerServer() = default;

void PeerServer::on_accept(Fd fd, control::ConnectionSlot slot) {
  const uint32_t id = next_id_++;
  control::Connection::Callbacks cb;
  cb.on_message = [this, id](control::Connection&, const control::Message& m) {
    on_message(id, m);
  };
  cb.on_close = [this, id](control::Connection&, const std::string&) { clients_.erase(id); };
  cb.on_drained = [this, id](control::Connection&) { feed(id); };
  control::Connection::Limits limits;
  limits.max_message_size = kJoinMessageLimit;  // raised once it proved the key
  auto conn = control::Connection::create(loop_, std::move(fd), cb, limits);
  if (!conn) {
    spdlog::warn("cannot serve a peer: {}", conn.error());
    return;
  }
  clients_.emplace(
      id, Client{std::move(*conn), std::move(slot),
                 control::ServerHandshake(opt_.key, id, control::random_nonce()), std::nullopt, 0});
}

void PeerServer::tick(uint64_t now_ns) {
  std::vector<uint32_t> late;
  for (auto& [id, c] : clients_) {
    if (c.since_ns == 0) c.since_ns = now_ns;
    if (!c.hs.accepted() && now_ns - c.since_ns > kPeerHandshakeNs) late.push_back(id);
  }
  for (const uint32_t id : late) {
    if (auto it = clients_.find(id); it != clients_.end())
      it->second.conn->close("did not prove the key in time");
  }
}

void PeerServer::drop(uint32_t id, const std::string& why) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  spdlog::warn("peer {}: {}", it->second.conn->peer(), why);
  it->second.conn->send(control::Bye{control::ByeCode::kAborted, why});
  if (auto again = clients_.find(id); again != clients_.end()) again->second.conn->finish(why);
}

void PeerServer::on_message(uint32_t id, const control::Message& m) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  if (!c.hs.accepted()) {
    control::Message reply = c.hs.on_message(m);
    if (c.hs.accepted()) c.conn->set_max_message_size(control::kMaxMessageSize);
    c.conn->send(reply);
    if (std::holds_alternative<control::Reject>(reply)) {
      spdlog::warn("refused peer {}: {}", c.conn->peer(), c.hs.reject_reason());
      if (auto again = clients_.find(id); again != clients_.end())
        again->second.conn->finish("refused");
    }
    return;
  }
  const auto* a = std::get_if<control::PeerAssign>(&m);
  if (!a || c.assign) {
    return drop(id, std::string("protocol error: unexpected ") + control::type_name(m));
  }
  if (a->session_id != opt_.session_id) {
    return drop(id, "this peer serves another session (" + session_hex(opt_.session_id) + ")");
  }
  for (const control::PeerRange& r : a->ranges) {
    if (r.block >= opt_.layout.block_count() || r.first_esi + r.count > fec::kMaxSymbols) {
      return drop(id, "asked for rows beyond the object (block " + std::to_string(r.block) + ")");
    }
  }
  c.assign = *a;
  feed(id);
}

void PeerServer::feed(uint32_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end() || !it->second.assign) return;
  Client& c = it->second;
  const std::vector<control::PeerRange>& ranges = c.assign->ranges;
  const size_t sym = opt_.layout.symbol_size();
  while (c.next < ranges.size() && c.conn->is_open() && c.conn->pending_output() < kQueueBytes) {
    const control::PeerRange& r = ranges[c.next++];
    const unsigned k = opt_.layout.block_k(r.block);
    const bool repair = r.first_esi >= k;
    if (repair) {
      encode_buf_.resize(size_t{r.count} * sym);
      uint8_t* outs[fec::kMaxSymbols];
      for (unsigned i = 0; i < r.count; ++i) outs[i] = encode_buf_.data() + i * sym;
      if (Status s = symbols_.encode(r.block, r.first_esi, r.count, outs); !s) {
        return drop(id, "cannot encode repair rows: " + s.error());
      }
    }
    for (unsigned i = 0; i < r.count; ++i) {
      const unsigned esi = r.first_esi + i;
      if (!repair && esi >= k) break;  // a source range never runs past k
      control::Repair m;
      m.block = r.block;
      m.esi = static_cast<uint8_t>(esi);
      m.payload = {repair ? encode_buf_.data() + i * sym : symbols_.source(r.block, esi), sym};
      if (!c.conn->send(m)) return;  // closed: on_close erased the client
      ++symbols_served_;
    }
  }
  if (c.next == ranges.size() && c.conn->is_open()) {
    c.conn->send(control::PassEnd{c.assign->pass, 0});
    ++assignments_served_;
    c.assign.reset();  // served; the straggler closes
    c.next = 0;
  }
}

}  // namespace shoal::session
