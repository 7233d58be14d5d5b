// The receiver's part in peer repair: serving the verified object to the stragglers the sender
// assigns (--serve-peers, session/peer_server.h), and taking a unicast lane pass from the peer
// the sender assigns this receiver (session/peer_fetch.h).
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "control/endpoint.h"
#include "engine/net_iface.h"
#include "fec/layout.h"
#include "session/receiver_run.h"

namespace shoal::session::detail {

const char* ReceiverRun::serve_peers_refusal() const {
  if (!opt_.serve_peers) return "not asked to (--serve-peers)";
  return control_.session().object_format != 0 ? "the object is packed (a tree or zstd)"
         : pipe_                               ? "the object went to stdout"
         : opt_.relay_outcome                  ? "a relay serves its own segment"
         : !opt_.key && !opt_.insecure
             ? "peers prove the pre-shared key to each other: give --key-file"
             : nullptr;
}

// Called once the object is committed under its final name, before the Done goes: the offer
// reaches the sender first, so it holds this receiver for its stragglers. (An offer without an
// address went with Ready: the sender then feeds unicast lanes in chunks.)
void ReceiverRun::offer_to_serve_peers() {
  if (!opt_.serve_peers) return;
  if (const char* why_not = serve_peers_refusal()) {
    spdlog::warn("--serve-peers: not serving peers: {}", why_not);
    return;
  }
  const control::Session& s = control_.session();
  std::optional<sockaddr_in> listen;
  if (opt_.peer_listen.empty()) {
    listen = conn_->local_address();  // the address the sender (and so the rack) reaches us at
    if (listen) listen->sin_port = 0;
  } else if (auto ep = control::parse_endpoint(opt_.peer_listen)) {
    listen = *ep;
  } else {
    spdlog::warn("--peer-listen: {}; not serving peers", ep.error());
    return;
  }
  if (!listen) {
    spdlog::warn("--serve-peers: cannot tell this receiver's address; give --peer-listen");
    return;
  }
  auto layout = fec::BlockLayout::make(s.object_size, s.symbol_size, s.k);
  if (!layout) return;  // the session was checked when it opened
  PeerServer::Options o;
  o.listen = *listen;
  o.key = opt_.insecure ? std::nullopt : opt_.key;
  o.session_id = s.session_id;
  o.layout = *layout;
  o.path = opt_.out;
  auto server = PeerServer::start(*loop_, std::move(o));
  if (!server) {
    spdlog::warn("--serve-peers: {}", server.error());
    return;
  }
  peer_server_ = std::move(*server);
  if (listen->sin_addr.s_addr == INADDR_ANY) {  // --peer-listen 0.0.0.0:PORT: say where
    if (auto local = conn_->local_address()) listen->sin_addr = local->sin_addr;
  }
  listen->sin_port = htons(peer_server_->port());
  const std::string address = control::format_endpoint(*listen);
  conn_->send(control::PeerOffer{address});
  control_.serve_after_done();
  spdlog::info("serving peers at {} until the session ends", address);
}

void ReceiverRun::fetch_from_peer(const control::PeerAssign& assign) {
  if (peer_fetch_) {
    return control_.fail("protocol error: the sender assigned a peer while another serves");
  }
  spdlog::info("taking pass {} ({} block range(s)) from peer {}", assign.pass, assign.ranges.size(),
               assign.address);
  PeerFetch::Callbacks cb;
  cb.on_symbol = [this](const control::Repair& r) { return core_->on_peer_symbol(r); };
  cb.on_end = [this, address = assign.address](uint32_t pass, const std::string& failure) {
    peer_symbols_taken_ += peer_fetch_->symbols();
    if (failure.empty()) ++peer_passes_taken_;
    if (!failure.empty()) {
      spdlog::warn("peer {} did not serve pass {}: {}; the sender serves it instead", address, pass,
                   failure);
      conn_->send(control::PeerFailed{address, failure});
    }
    on_message(control::PassEnd{pass, 0});  // answered as if the sender had ended it
  };
  peer_fetch_ = std::make_unique<PeerFetch>(*loop_, assign, opt_.insecure ? std::nullopt : opt_.key,
                                            name_, monotonic_ns(), std::move(cb));
}

void ReceiverRun::peer_tick(uint64_t now_ns) {
  if (peer_server_) peer_server_->tick(now_ns);
  if (!peer_fetch_) return;
  peer_fetch_->tick(now_ns);
  if (peer_fetch_->ended()) peer_fetch_.reset();
}

void ReceiverRun::report_peers(ReceiverSummary& summary) const {
  summary.peer_passes_taken = peer_passes_taken_;
  summary.peer_symbols_taken = peer_symbols_taken_;
  if (!peer_server_) return;
  summary.peer_passes_served = peer_server_->assignments_served();
  summary.peer_symbols_served = peer_server_->symbols_served();
}

void ReceiverRun::log_peer_service() const {
  if (!peer_server_) return;
  spdlog::info("served peers {} pass(es), {} symbols", peer_server_->assignments_served(),
               peer_server_->symbols_served());
}

}  // namespace shoal::session::detail
