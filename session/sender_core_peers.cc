// SenderCore's peer repair (sender_core.h, "Peer repair"): receivers that verified the object and
// offered to serve it take unicast lane passes off the sender's link.
#include <arpa/inet.h>

#include <algorithm>
#include <bit>

#include "common/printable.h"
#include "session/sender_core.h"

namespace shoal::session {

namespace {

using Level = action::Log::Level;

// The IPv4 address of "a.b.c.d:port" in host order (nullopt: not IPv4). Peers are near when their
// addresses share leading bits: the same rack's subnet beats the next one's.
std::optional<uint32_t> ipv4_of(const std::string& addr) {
  in_addr a{};
  if (inet_pton(AF_INET, addr.substr(0, addr.rfind(':')).c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

}  // namespace

void SenderCore::on_peer_offer(ReceiverRecord& r, const control::PeerOffer& offer) {
  if (!r.active()) return;
  if (!cfg_.peer_repair) {
    log(Level::kDebug, "receiver " + r.name + " offers to serve peers; declined (peer repair off)");
    return;
  }
  if (offer.address.empty()) {  // it will offer once verified
    peers_expected_ = true;
    return;
  }
  peers_expected_ = true;
  r.peer_addr = offer.address;
  r.peer_ipv4 = ipv4_of(r.addr);  // where it reached the sender from: its place in the network
}

void SenderCore::start_serving(ReceiverRecord& peer) {
  peer.serving = true;
  serving_.push_back(peer.id);
  log(Level::kInfo, "receiver " + peer.name + " serves peers at " + peer.peer_addr);
}

// O(serving peers) per lane pass, not O(receivers).
ReceiverRecord* SenderCore::pick_peer(const ReceiverRecord& straggler) {
  ReceiverRecord* best = nullptr;
  int best_prefix = -1;
  const std::optional<uint32_t> ip = ipv4_of(straggler.addr);
  for (const uint32_t id : serving_) {
    ReceiverRecord* p = find(id);
    if (!p || p->peer_load >= control::kPeerMaxClients || id == straggler.id) continue;
    const int prefix = ip && p->peer_ipv4 ? std::countl_zero(*ip ^ *p->peer_ipv4) : 0;
    if (prefix > best_prefix || (prefix == best_prefix && p->peer_load < best->peer_load)) {
      best = p;
      best_prefix = prefix;
    }
  }
  return best;
}

void SenderCore::feed_lane(ReceiverRecord& r, uint32_t pass, std::vector<RepairRange> items) {
  release_lane(r);  // a lane keeps its place with the sender: it may take it again at once
  ReceiverRecord* peer = items.empty() ? nullptr : pick_peer(r);
  if (!peer && peers_expected_ && sender_lanes_ >= kSenderLanes && !items.empty()) {
    r.lane_queued = true;
    r.queued_pass = pass;
    r.queued_items = std::move(items);
    lane_queue_.push_back(r.id);
    return;
  }
  if (!peer) {
    // Receivers will serve: the sender feeds a chunk, so that the next pass can go to a peer
    // that is done by then (the straggler answers each pass with what it still lacks).
    const size_t chunk = std::max(kMinLaneChunk, cfg_.block_k.size() / kLaneChunks);
    if (peers_expected_ && items.size() > chunk) items.resize(chunk);
    r.sender_lane = true;
    ++sender_lanes_;
    r.progress_ns = 0;  // its stall clock starts with this feed (it may have waited long)
    push(action::StartUnicastFeed{r.id, pass, std::move(items)});
    return;
  }
  // What one assignment does not hold goes in the next pass (the receiver answers with it).
  if (items.size() > control::kMaxPeerRanges) items.resize(control::kMaxPeerRanges);
  ++peer->peer_load;
  r.served_by = peer->id;
  r.progress_ns = 0;  // its stall clock starts at the driver's next look
  ++r.peer_passes;
  log(Level::kInfo, "receiver " + r.name + " takes unicast pass " + std::to_string(pass) + " (" +
                        std::to_string(items.size()) + " block range(s)) from peer " + peer->name +
                        " at " + peer->peer_addr);
  emit("peer_assign",
       {{"receiver", r.name}, {"peer", peer->name}, {"pass", pass}, {"ranges", items.size()}});
  push(action::AssignPeer{r.id, pass, peer->peer_addr, std::move(items)});
}

void SenderCore::release_peer(ReceiverRecord& r) {
  if (r.served_by == 0) return;
  if (ReceiverRecord* p = find(r.served_by); p && p->peer_load > 0) --p->peer_load;
  r.served_by = 0;
}

void SenderCore::release_lane(ReceiverRecord& r) {
  if (r.sender_lane) {
    r.sender_lane = false;
    --sender_lanes_;
  }
  if (r.lane_queued) {  // left in lane_queue_: dispatch_lanes() skips it
    r.lane_queued = false;
    r.queued_items.clear();
  }
}

// Lanes that wait, first come first served: each to a free peer, or to a free sender lane.
void SenderCore::dispatch_lanes() {
  while (!lane_queue_.empty()) {
    ReceiverRecord* r = find(lane_queue_.front());
    if (!r || !r->lane_queued || !r->active()) {
      lane_queue_.pop_front();
      continue;
    }
    if (sender_lanes_ >= kSenderLanes && !pick_peer(*r)) break;
    lane_queue_.pop_front();
    r->lane_queued = false;
    feed_lane(*r, r->queued_pass, std::move(r->queued_items));
  }
}

void SenderCore::stop_serving(ReceiverRecord& peer, const std::string& why) {
  if (!peer.serving) return;
  peer.serving = false;
  std::erase(serving_, peer.id);
  log(Level::kWarn, "peer " + peer.name + " at " + peer.peer_addr + " serves no more: " + why +
                        "; its stragglers' next passes come from the sender");
  push(action::AckDone{peer.id});  // it may go (a closed connection: the driver skips it)
}

void SenderCore::on_peer_failed(ReceiverRecord& r, const control::PeerFailed& f) {
  // Only the peer of its current pass: an old or made-up address changes nothing.
  ReceiverRecord* p = r.served_by == 0 ? nullptr : find(r.served_by);
  if (!p || p->peer_addr != f.address) return;
  emit("peer_failed", {{"receiver", r.name}, {"peer", p->name}, {"reason", f.reason}});
  stop_serving(
      *p, "receiver " + r.name + " could not take its pass from it (" + printable(f.reason) + ")");
}

// Once the multicast passes are over, only the unicast lanes under way can still use a peer: an
// idle one is let go (acknowledged) when every lane has a peer and no receiver is on its way to
// Ready, so receivers that serve do not outstay the need. With --until, kLingerPeers idle ones
// stay for the receivers still to come.
void SenderCore::release_idle_peers() {
  if ((phase_ != Phase::kUnicastDrain && phase_ != Phase::kLinger) || serving_.size() == 0) return;
  size_t keep = cfg_.until_ns != 0 ? kLingerPeers : 0;
  if (serving_.size() <= keep) return;
  for (const auto& [id, r] : receivers_) {
    if ((r.unicast && r.active() && r.served_by == 0) || r.state == ReceiverState::kJoined) return;
  }
  std::erase_if(serving_, [this, &keep](uint32_t id) {
    ReceiverRecord* p = find(id);
    if (p && p->peer_load != 0) return false;
    if (p && keep > 0) {
      --keep;
      return false;
    }
    if (p) {
      p->serving = false;
      log(Level::kInfo, "peer " + p->name + " is let go: no straggler needs it");
      push(action::AckDone{p->id});
    }
    return true;
  });
}

}  // namespace shoal::session
