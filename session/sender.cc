#include "session/sender.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "announce/announce.h"
#include "common/clock.h"
#include "common/units.h"
#include "control/connection.h"
#include "control/endpoint.h"
#include "control/event_loop.h"
#include "control/listener.h"
#include "control/metrics_server.h"
#include "engine/net_iface.h"
#include "engine/pacer.h"
#include "engine/transport_select.h"
#include "engine/udp_tx.h"
#include "engine/wire.h"
#include "object/manifest.h"
#include "object/object_format.h"
#include "object/object_source.h"
#include "probe/probe_autorate.h"
#include "session/data_pass.h"
#include "session/pass_schedule.h"
#include "session/repair_planner.h"
#include "session/session_keys.h"
#include "session/symbol_source.h"

namespace shoal::session {

namespace {

constexpr size_t kUnicastQueueBytes = size_t{4} << 20;  // unicast stream: queued per receiver
constexpr uint64_t kBeaconEveryNs = 20'000'000;

enum class PeerState { kHandshake, kJoined, kReady, kDone, kFailed, kRefused, kSuperseded };

struct Peer {
  uint32_t id = 0;
  std::shared_ptr<control::Connection> conn;
  control::ConnectionSlot slot;  // counts against the listener's connection cap while held
  std::optional<control::ServerHandshake> hs;
  std::string name, addr;
  PeerState state = PeerState::kHandshake;
  bool admitted = false;
  bool asked = false;     // was sent the current PassEnd
  bool answered = false;  // answered it
  bool initial = false;   // sent its initial NAK (what it lacks before the first pass)
  std::vector<NeedRun> needs;
  std::optional<control::Key> channel;  // protects the data key in its KeyGrant
  std::string identity;                 // TLS certificate CN ("" without TLS)
  uint64_t connected_ns = 0;
  bool unicast = false;  // multicast does not reach it: the whole object goes over TCP
  // Unicast stream: blocks still to send (source symbols), the next one's position.
  std::vector<NeedRun> feed;
  size_t feed_run = 0;
  uint32_t feed_block = 0;
  bool feed_pass_end = false;  // a PassEnd follows the last queued symbol
  uint32_t unicast_passes = 0;
  size_t last_pending = 0;  // stall detection of the unicast stream
  uint64_t progress_ns = 0;
  control::Done done;
  std::string reason;
  uint64_t unicast_symbols = 0;
  uint64_t frames_received = 0;  // datagrams the receiver accepted (its received minus rejected)
  uint64_t frames_sent = 0;      // multicast frames sent while it took part, as of its last answer
  uint64_t done_ns = 0;
  bool active() const {
    return admitted && (state == PeerState::kJoined || state == PeerState::kReady);
  }
  bool multicast() const { return active() && !unicast; }
};

class SenderRun {
 public:
  explicit SenderRun(const SendOptions& o) : opt_(o) {}
  int run();

 private:
  void on_accept(Fd fd, const sockaddr_in& from, control::ConnectionSlot slot);
  void on_message(Peer& p, const control::Message& m);
  void on_close(Peer& p, const std::string& why);
  void fail_peer(Peer& p, std::string reason);
  size_t count(bool (*pred)(const Peer&)) const;
  bool wait_for(uint64_t timeout_ns, bool (SenderRun::*done)() const);
  bool beacon_until_ready(uint64_t timeout_ns);
  bool all_ready() const;
  bool all_answered() const;
  void service(int timeout_ms);
  void send_unicast(const RepairPlan& plan);
  void send_session(Peer& p);
  void on_ready(Peer& p, const control::Ready& r);
  void feed_unicast(Peer& p);
  // A Repair message for one symbol; valid until the next call (it may view frame_buf_).
  Result<control::Repair> make_repair(uint32_t block, uint8_t k, uint8_t esi,
                                      const uint8_t* payload);
  void start_feed(Peer& p, std::vector<NeedRun> blocks);
  bool unicast_done() const;
  void housekeeping();
  void send_beacon();
  void progress(const char* what, double frac, bool final_line = false);
  int finish();

  SendOptions opt_;
  std::unique_ptr<control::EventLoop> loop_;
  std::unique_ptr<control::Listener> listener_;
  std::map<uint32_t, Peer> peers_;
  uint32_t next_id_ = 1;
  bool started_ = false;
  uint64_t session_id_ = 0;
  control::Session session_msg_;
  std::vector<control::Manifest> manifest_msgs_;
  std::optional<SymbolSource> symbols_;
  std::optional<DataKey> data_key_;
  std::optional<engine::FrameBuilder> builder_;
  engine::TxBackend* tx_ = nullptr;
  std::optional<control::Admission> admission_;
  std::shared_ptr<control::TlsContext> tls_;
  std::unique_ptr<control::MetricsServer> metrics_;
  std::string render_metrics() const;
  uint64_t beacon_nonce_ = 0, last_beacon_ns_ = 0, last_housekeeping_ns_ = 0;
  std::vector<uint8_t> frame_buf_;
  uint64_t t_start_ = 0, t_data_ = 0, last_progress_ns_ = 0;
  uint64_t frames_sent_ = 0, repair_frames_ = 0, object_size_ = 0;
  uint32_t passes_ = 0;
  const PassStats* pass_stats_ = nullptr;  // the running pass, for the progress line
  uint64_t pass_frames_ = 0;
  std::optional<AutoRate> auto_rate_;  // --rate auto (probe/probe_autorate.h)
};

size_t SenderRun::count(bool (*pred)(const Peer&)) const {
  size_t n = 0;
  for (const auto& [id, p] : peers_) n += pred(p) ? 1 : 0;
  return n;
}

void SenderRun::fail_peer(Peer& p, std::string reason) {
  if (p.state == PeerState::kDone || p.state == PeerState::kFailed) return;
  spdlog::warn("receiver {} ({}) failed: {}", p.name.empty() ? "?" : p.name, p.addr, reason);
  p.state = PeerState::kFailed;
  p.reason = std::move(reason);
  opt_.events.emit("fail", {{"receiver", p.name}, {"address", p.addr}, {"reason", p.reason}});
  if (p.conn && p.conn->is_open()) {
    p.conn->send(control::Bye{control::ByeCode::kFailedReceiver, p.reason});
    p.conn->finish(p.reason);
  }
}

void SenderRun::on_accept(Fd fd, const sockaddr_in& from, control::ConnectionSlot slot) {
  if (!admission_->address_allowed(from)) {
    // Closed before a byte is read: a host outside --allow learns nothing and costs nothing.
    spdlog::warn("refused {}: not in --allow", control::format_endpoint(from));
    return;
  }
  uint32_t id = next_id_++;
  Peer& p = peers_[id];
  p.id = id;
  p.slot = std::move(slot);
  p.addr = control::format_endpoint(from);
  p.connected_ns = monotonic_ns();
  std::optional<control::Key> key = opt_.insecure ? std::nullopt : opt_.key;
  p.hs.emplace(key, id, control::random_nonce());
  control::Connection::Callbacks cb;
  cb.on_message = [this, id](control::Connection&, const control::Message& m) {
    auto it = peers_.find(id);
    if (it != peers_.end()) on_message(it->second, m);
  };
  cb.on_close = [this, id](control::Connection&, const std::string& why) {
    auto it = peers_.find(id);
    if (it != peers_.end()) on_close(it->second, why);
  };
  control::Connection::Limits limits;
  limits.max_message_size = control::Admission::kJoinMessageLimit;  // raised once it has joined
  auto conn = control::Connection::create(*loop_, std::move(fd), cb, limits, tls_);
  if (!conn) {
    spdlog::warn("cannot serve {}: {}", p.addr, conn.error());
    peers_.erase(id);
    return;
  }
  p.conn = std::move(*conn);
  p.conn->id = id;
}

void SenderRun::on_close(Peer& p, const std::string& why) {
  if (p.state == PeerState::kHandshake || p.state == PeerState::kRefused) {
    if (p.state == PeerState::kHandshake)
      spdlog::warn("{} left during the handshake: {}", p.addr, why);
    p.state = PeerState::kRefused;
    return;
  }
  fail_peer(p, "connection lost: " + why);
}

void SenderRun::on_message(Peer& p, const control::Message& m) {
  if (p.state == PeerState::kHandshake) {
    // A message arrived, so a TLS handshake is complete: check the certificate's name first.
    if (p.hs->state() == control::ServerHandshake::State::kAwaitHello) {
      if (auto why = admission_->identity_refused(*p.conn)) {
        spdlog::warn("refused {}: {}", p.addr, *why);
        p.conn->send(control::Reject{*why});
        p.state = PeerState::kRefused;
        p.conn->finish(*why);
        return;
      }
    }
    control::Message reply = p.hs->on_message(m);
    p.conn->send(reply);
    if (const auto* rej = std::get_if<control::Reject>(&reply)) {
      spdlog::warn("refused {} ({}): {}", p.addr, p.hs->receiver_name(), rej->reason);
      p.state = PeerState::kRefused;
      p.conn->finish(rej->reason);
    } else if (p.hs->accepted()) {
      p.name = p.hs->receiver_name();
      p.state = PeerState::kJoined;
      p.admitted = true;
      p.channel = control::channel_key_of(p.hs->channel_key(), p.conn->tls()
                                                                   ? p.conn->tls()->channel_key()
                                                                   : std::optional<control::Key>());
      if (p.conn->tls()) p.identity = p.conn->tls()->peer_common_name();
      p.conn->set_max_message_size(control::kMaxMessageSize);
      // A receiver that failed (say, was restarted) and joins again replaces its old entry.
      for (auto& [oid, q] : peers_) {
        if (oid != p.id && q.admitted && q.state == PeerState::kFailed && q.name == p.name) {
          q.state = PeerState::kSuperseded;
        }
      }
      spdlog::info("receiver {} joined from {}{}", p.name, p.addr,
                   started_
                       ? " (session running: it joins the next repair step)"
                       : " (" + std::to_string(count([](const Peer& q) { return q.admitted; })) +
                             " of " + std::to_string(opt_.min_receivers) + " wanted)");
      opt_.events.emit("join", {{"receiver", p.name}, {"address", p.addr}, {"late", started_}});
      if (started_) send_session(p);
    }
    return;
  }
  if (const auto* ready = std::get_if<control::Ready>(&m)) {
    if (p.state == PeerState::kJoined) on_ready(p, *ready);
  } else if (const auto* nak = std::get_if<control::Nak>(&m)) {
    if (p.unicast && nak->pass != control::kInitialPass) {
      // A unicast receiver lacks blocks after its stream (a block failed its hash): again.
      std::vector<NeedRun> again;
      for (const auto& r : nak->runs) again.push_back({r.first_block, r.count, r.missing});
      if (++p.unicast_passes > opt_.max_passes) {
        fail_peer(
            p, "still missing data after " + std::to_string(opt_.max_passes) + " unicast passes");
      } else {
        start_feed(p, std::move(again));
      }
      return;
    }
    if (nak->pass == control::kInitialPass) {
      p.needs.clear();
      for (const auto& r : nak->runs) p.needs.push_back({r.first_block, r.count, r.missing});
      p.initial = true;
      return;
    }
    if (!p.asked || nak->pass + 1 != passes_) return;  // an answer to an older pass
    p.needs.clear();
    for (const auto& r : nak->runs) p.needs.push_back({r.first_block, r.count, r.missing});
    p.frames_received = nak->frames_received - std::min(nak->frames_rejected, nak->frames_received);
    p.frames_sent = frames_sent_;
    p.answered = true;
  } else if (const auto* d = std::get_if<control::Done>(&m)) {
    p.done = *d;
    p.answered = true;
    p.done_ns = monotonic_ns();
    p.frames_received = d->frames_received - std::min(d->frames_rejected, d->frames_received);
    p.frames_sent = frames_sent_;
    if (d->ok) {
      p.state = PeerState::kDone;
      spdlog::info("receiver {} verified the object", p.name);
      opt_.events.emit("done", {{"receiver", p.name}, {"address", p.addr}});
    } else {
      fail_peer(p, d->reason);
    }
  } else if (const auto* fb = std::get_if<control::Feedback>(&m)) {
    if (auto_rate_) auto_rate_->on_feedback(p.id, *fb, monotonic_ns());  // else: not asked for
  } else {
    fail_peer(p, std::string("protocol error: unexpected ") + control::type_name(m));
  }
}

void SenderRun::send_session(Peer& p) {
  p.conn->send(session_msg_);
  for (const auto& mm : manifest_msgs_) p.conn->send(mm);
  std::vector<control::Digest> hashes;
  hashes.reserve(session_msg_.block_count);
  for (const auto& mm : manifest_msgs_) {
    hashes.insert(hashes.end(), mm.block_hashes.begin(), mm.block_hashes.end());
  }
  p.conn->send(seal_key_grant(*data_key_, p.channel, session_msg_, hashes));
}

void SenderRun::on_ready(Peer& p, const control::Ready& r) {
  if (r.beacon_echo != 0 && r.beacon_echo == beacon_nonce_) {
    p.state = PeerState::kReady;
    return;
  }
  const std::string why =
      r.beacon_echo == 0
          ? "did not hear the session's multicast beacon (group " + opt_.group + ", TTL " +
                std::to_string(opt_.ttl) +
                "): another subnet without multicast routing, a TTL too small, IGMP snooping "
                "without a querier, a firewall, or the wrong --iface on the receiver"
          : "echoed a beacon this session never sent";
  if (opt_.scope_strict || r.beacon_echo != 0) {
    fail_peer(p, why + (opt_.scope_strict ? " (--scope strict refuses it)" : ""));
    return;
  }
  spdlog::warn("receiver {} ({}) {}; serving it the whole object by unicast", p.name, p.addr, why);
  p.state = PeerState::kReady;
  p.unicast = true;
  p.reason = why;
  start_feed(p, p.initial ? p.needs
                          : std::vector<NeedRun>{{0, symbols_->layout().block_count(),
                                                  control::kMissingWholeBlock}});
}

void SenderRun::start_feed(Peer& p, std::vector<NeedRun> blocks) {
  p.feed = std::move(blocks);
  p.feed_run = 0;
  p.feed_block = p.feed.empty() ? 0 : p.feed.front().first_block;
  p.feed_pass_end = true;
  feed_unicast(p);
}

// Queues source symbols of the peer's wanted blocks while its connection has room; the queue
// drains at whatever rate TCP gets to that receiver, so a slow one only slows itself.
void SenderRun::feed_unicast(Peer& p) {
  if (!p.unicast || !p.active() || !p.conn || !p.conn->is_open()) return;
  const fec::BlockLayout& lay = symbols_->layout();
  while (p.conn->pending_output() < kUnicastQueueBytes && p.feed_run < p.feed.size()) {
    const NeedRun& run = p.feed[p.feed_run];
    const uint32_t b = p.feed_block;
    if (b >= lay.block_count()) {
      fail_peer(p, "asked for block " + std::to_string(b) + " beyond the object");
      return;
    }
    const auto k = static_cast<uint8_t>(lay.block_k(b));
    for (uint8_t esi = 0; esi < k; ++esi) {
      auto r = make_repair(b, k, esi, symbols_->source(b, esi));
      if (!r) {
        fail_peer(p, r.error());
        return;
      }
      if (!p.conn->send(*r)) {
        fail_peer(p, "control connection closed during the unicast stream");
        return;
      }
      ++p.unicast_symbols;
    }
    if (++p.feed_block >= uint64_t{run.first_block} + run.count) {
      if (++p.feed_run < p.feed.size()) p.feed_block = p.feed[p.feed_run].first_block;
    }
  }
  if (p.feed_run >= p.feed.size() && p.feed_pass_end) {
    p.feed_pass_end = false;
    p.conn->send(control::PassEnd{p.unicast_passes, 0});
  }
}

Result<control::Repair> SenderRun::make_repair(uint32_t block, uint8_t k, uint8_t esi,
                                               const uint8_t* payload) {
  const size_t sym = symbols_->layout().symbol_size();
  control::Repair r;
  r.block = block;
  r.esi = esi;
  if (builder_->tag_len() == 0) {
    r.payload = {payload, sym};
    return r;
  }
  // Authenticated sessions send the frame itself, tag and all, so the receiver takes unicast
  // data through the same check (and decryption) as multicast data.
  frame_buf_.resize(engine::kHeaderSize + sym + engine::kFrameTagSize);
  uint8_t* f = frame_buf_.data();
  engine::TxFrame tf;
  Status st = builder_->data(block, k, esi, payload, static_cast<uint16_t>(sym), f,
                             f + engine::kHeaderSize + sym, f + engine::kHeaderSize, tf);
  if (!st) return make_error(st.error());
  if (tf.payload != f + engine::kHeaderSize) std::memcpy(f + engine::kHeaderSize, tf.payload, sym);
  r.payload = {f, tf.size()};
  return r;
}

// Prometheus text format: the session's counters and every receiver's state, as of now.
std::string SenderRun::render_metrics() const {
  using control::metric_line;
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  const uint64_t frames = frames_sent_ + (pass_stats_ ? pass_stats_->frames : 0);
  const uint64_t repair = repair_frames_ + (pass_stats_ ? pass_stats_->repair_frames : 0);
  family("shoal_sender_object_bytes", "gauge", "size of the object being sent");
  out += metric_line("shoal_sender_object_bytes", double(object_size_));
  family("shoal_sender_rate_bps", "gauge", "configured multicast rate, bits/s at the IP level");
  out += metric_line("shoal_sender_rate_bps", double(opt_.rate_bps));
  family("shoal_sender_frames_sent_total", "counter", "multicast data frames sent");
  out += metric_line("shoal_sender_frames_sent_total", double(frames));
  family("shoal_sender_repair_frames_total", "counter", "multicast repair frames sent");
  out += metric_line("shoal_sender_repair_frames_total", double(repair));
  family("shoal_sender_passes_total", "counter", "multicast passes finished");
  out += metric_line("shoal_sender_passes_total", double(passes_));
  family("shoal_sender_data_seconds", "gauge", "seconds since the data phase began (0 before)");
  out += metric_line("shoal_sender_data_seconds",
                     t_data_ ? double(monotonic_ns() - t_data_) / 1e9 : 0.0);
  std::map<std::string, size_t> states = {
      {"joining", 0}, {"joined", 0}, {"ready", 0}, {"done", 0}, {"failed", 0}};
  family("shoal_sender_receiver_done", "gauge",
         "1 once the receiver verified the object, 0 while it has not (labels: name, address, "
         "path)");
  for (const auto& [id, p] : peers_) {
    switch (p.state) {
      case PeerState::kHandshake:
        ++states["joining"];
        break;
      case PeerState::kJoined:
        ++states["joined"];
        break;
      case PeerState::kReady:
        ++states["ready"];
        break;
      case PeerState::kDone:
        ++states["done"];
        break;
      case PeerState::kFailed:
        ++states["failed"];
        break;
      default:
        break;
    }
    if (!p.admitted || p.state == PeerState::kSuperseded) continue;
    out += metric_line(
        "shoal_sender_receiver_done", p.state == PeerState::kDone ? 1 : 0,
        {{"name", p.name}, {"address", p.addr}, {"path", p.unicast ? "unicast" : "multicast"}});
  }
  family("shoal_sender_receivers", "gauge", "control connections by state");
  for (const auto& [state, n] : states) {
    out += metric_line("shoal_sender_receivers", double(n), {{"state", state}});
  }
  return out;
}

bool SenderRun::unicast_done() const {
  for (const auto& [id, p] : peers_) {
    if (p.unicast && p.active()) return false;
  }
  return true;
}

void SenderRun::send_beacon() {
  uint8_t frame[engine::kHeaderSize + engine::FrameBuilder::kBeaconPayload + engine::kFrameTagSize];
  const size_t len = builder_->beacon(beacon_nonce_, frame);
  if (len == 0) return;
  const engine::TxFrame f{frame, static_cast<uint16_t>(len), nullptr, 0, nullptr, 0};
  (void)tx_->tx_burst(&f, 1);  // a beacon lost is sent again 20 ms later
  last_beacon_ns_ = monotonic_ns();
}

// Timers of the control plane, run from service(): joins that take too long, beacons for
// receivers that have not confirmed the group yet, unicast streams.
void SenderRun::housekeeping() {
  const uint64_t now = monotonic_ns();
  // Every 5 ms is plenty for timers of this grain, and keeps a large peer table off the data path.
  if (now - last_housekeeping_ns_ < 5'000'000) return;
  last_housekeeping_ns_ = now;
  if (metrics_) metrics_->expire(now);
  bool awaiting_ready = false;
  for (auto& [id, p] : peers_) {
    if (p.state == PeerState::kHandshake && p.conn && p.conn->is_open() &&
        admission_->join_expired(p.connected_ns, now)) {
      spdlog::warn("dropped {}: no complete join within {:.0f}s", p.addr,
                   admission_->handshake_timeout_s());
      p.state = PeerState::kRefused;
      p.conn->close("join timed out");
      continue;
    }
    awaiting_ready |= p.admitted && p.state == PeerState::kJoined;
    if (p.unicast) feed_unicast(p);
  }
  if (started_ && awaiting_ready && tx_ && now - last_beacon_ns_ >= kBeaconEveryNs) {
    send_beacon();
  }
  // Connections of peers that are gone hold nothing.
  std::erase_if(peers_, [](const auto& kv) {
    return kv.second.state == PeerState::kRefused && !kv.second.admitted &&
           (!kv.second.conn || !kv.second.conn->is_open());
  });
}

void SenderRun::service(int timeout_ms) {
  loop_->poll_once(timeout_ms);
  housekeeping();
  if (pass_stats_ && pass_frames_ > 0) {
    char what[32];
    std::snprintf(what, sizeof what, "pass %u", passes_);
    progress(what, double(pass_stats_->frames) / double(pass_frames_));
  }
}

bool SenderRun::all_ready() const {
  for (const auto& [id, p] : peers_) {
    if (p.admitted && p.state == PeerState::kJoined) return false;
  }
  return true;
}

bool SenderRun::all_answered() const {
  for (const auto& [id, p] : peers_) {
    if (p.active() && p.asked && !p.answered) return false;
  }
  return true;
}

bool SenderRun::beacon_until_ready(uint64_t timeout_ns) {
  const uint64_t deadline = monotonic_ns() + timeout_ns;
  while (!all_ready()) {
    if (monotonic_ns() >= deadline) return false;
    service(10);  // beacons go out from housekeeping() while a receiver is not Ready
  }
  return true;
}

bool SenderRun::wait_for(uint64_t timeout_ns, bool (SenderRun::*done)() const) {
  const uint64_t deadline = monotonic_ns() + timeout_ns;
  while (!(this->*done)()) {
    uint64_t now = monotonic_ns();
    if (now >= deadline) return false;
    service(static_cast<int>(std::min<uint64_t>((deadline - now) / 1'000'000 + 1, 100)));
  }
  return true;
}

void SenderRun::send_unicast(const RepairPlan& plan) {
  const size_t sym = symbols_->layout().symbol_size();
  std::vector<uint8_t> buf(size_t{fec::kMaxSymbols} * sym);
  uint8_t* outs[fec::kMaxSymbols];
  for (const UnicastRepair& u : plan.unicast) {
    auto it = peers_.find(u.receiver);
    if (it == peers_.end() || !it->second.active()) continue;
    Peer& p = it->second;
    const unsigned k = symbols_->layout().block_k(u.range.block);
    for (unsigned i = 0; i < u.range.count; ++i) outs[i] = buf.data() + i * sym;
    Status s = symbols_->encode(u.range.block, u.range.first_esi, u.range.count, outs);
    if (!s) {
      fail_peer(p, "cannot encode unicast repair: " + s.error());
      continue;
    }
    for (unsigned i = 0; i < u.range.count; ++i) {
      unsigned esi = u.range.first_esi + i;
      if (esi < k) continue;  // planner rows are repair rows; kept for safety
      auto r =
          make_repair(u.range.block, static_cast<uint8_t>(k), static_cast<uint8_t>(esi), outs[i]);
      if (!r) {
        fail_peer(p, r.error());
        break;
      }
      if (!p.conn->send(*r)) {
        fail_peer(p, "control connection cannot take repair data (receiver too slow)");
        break;
      }
      ++p.unicast_symbols;
    }
  }
}

void SenderRun::progress(const char* what, double frac, bool final_line) {
  if (!opt_.progress) return;
  uint64_t now = monotonic_ns();
  if (!final_line && now - last_progress_ns_ < 250'000'000) return;
  last_progress_ns_ = now;
  size_t done = count([](const Peer& q) { return q.state == PeerState::kDone; });
  size_t admitted = count([](const Peer& q) { return q.admitted; });
  const double frame_bits = double(symbols_->layout().symbol_size() + engine::kHeaderSize +
                                   builder_->tag_len() + engine::kWireOverhead) *
                            8;
  const uint64_t frames = frames_sent_ + (pass_stats_ ? pass_stats_->frames : 0);
  double secs = double(now - t_data_) / 1e9;
  double rate = secs > 0 ? double(frames) * frame_bits / secs : 0;
  double left = pass_stats_ && pass_frames_ > pass_stats_->frames
                    ? double(pass_frames_ - pass_stats_->frames)
                    : 0;
  double eta = double(opt_.rate_bps) > 0 ? left * frame_bits / double(opt_.rate_bps) : 0;
  std::fprintf(stderr, "\r  %-7s %5.1f%%  %s  ETA %4.1fs  receivers done %zu/%zu   ", what,
               frac * 100, format_rate(rate).c_str(), eta, done, admitted);
  if (final_line) std::fprintf(stderr, "\n");
}

int SenderRun::run() {
  t_start_ = monotonic_ns();
  auto tls = control::tls_context_for(control::TlsContext::Role::kServer, opt_.tls);
  if (!tls) {
    spdlog::error("{}", tls.error());
    return 2;
  }
  tls_ = std::move(*tls);
  if (Status a =
          control::require_authentication(opt_.key.has_value(), opt_.insecure, tls_ != nullptr);
      !a) {
    spdlog::error("{}", a.error());
    return 2;
  }
  if (opt_.insecure) spdlog::warn("--insecure: any host that reaches the control port can join");
  if (!opt_.rate_auto.empty()) {  // --rate auto[:FILE]: the controller sets the rate
    auto ar = AutoRate::make(opt_.rate_auto,
                             uint32_t(engine::kHeaderSize + opt_.symbol_size +
                                      (opt_.frame_auth ? engine::kFrameTagSize : 0)),
                             opt_.k, opt_.proactive);
    if (!ar) {
      spdlog::error("--rate: {}", ar.error());
      return 2;
    }
    auto_rate_.emplace(std::move(*ar));
    opt_.rate_bps = auto_rate_->start_bps();
    spdlog::info("{}", auto_rate_->describe());
  }
  auto admission = control::Admission::create(opt_.admission, opt_.tls.enabled());
  if (!admission) {
    spdlog::error("{}", admission.error());
    return 2;
  }
  admission_.emplace(std::move(*admission));
  if (opt_.encrypt && !opt_.frame_auth) {
    spdlog::error("--encrypt needs authenticated frames: drop --no-frame-auth");
    return 2;
  }
  if (opt_.encrypt && !opt_.key && !opt_.tls.enabled()) {
    spdlog::warn(
        "--encrypt without a key: the data key crosses the control connection in the clear, so "
        "anyone who sees that traffic can decrypt the object; use --key-file");
  }
  if (!opt_.frame_auth) {
    spdlog::warn("--no-frame-auth: anyone on the segment can inject data frames");
  }
  if (auto g = engine::parse_ipv4(opt_.group);
      g && opt_.ttl > 1 && (ntohl(g->s_addr) >> 24) != 239) {
    spdlog::warn(
        "group {} is outside 239.0.0.0/8 (administratively scoped) and --ttl is {}: the data "
        "may leave your organisation's network; prefer a 239.x.y.z group",
        opt_.group, opt_.ttl);
  }

  // A directory tree and/or --compress become one packed object (object/object_format.h).
  ObjectFormatInfo format;
  auto src = open_object(opt_.path, opt_.compress, opt_.spool, format);
  if (!src) {
    spdlog::error("{}", src.error());
    return 2;
  }
  object_size_ = src->size();
  auto layout = fec::BlockLayout::make(src->size(), opt_.symbol_size, opt_.k);
  if (!layout) {
    spdlog::error("{}", layout.error());
    return 2;
  }
  auto syms = SymbolSource::make(src->bytes(), *layout);
  if (!syms) {
    spdlog::error("{}", syms.error());
    return 2;
  }
  symbols_.emplace(std::move(*syms));

  engine::TransportOptions to;
  to.choice = opt_.transport;
  to.group = opt_.group;
  to.port = opt_.port;
  to.iface = opt_.iface;
  to.ttl = opt_.ttl;
  to.loopback = opt_.loopback;
  auto tx = engine::open_transport(to);
  if (!tx) {
    spdlog::error("{}", tx.error());
    return 2;
  }
  spdlog::info("data plane: {}", tx->why);
  tx_ = tx->tx.get();

  auto loop = control::EventLoop::create();
  if (!loop) {
    spdlog::error("{}", loop.error());
    return 1;
  }
  loop_ = std::move(*loop);
  auto listen_ep = control::parse_endpoint(opt_.listen);
  if (!listen_ep) {
    spdlog::error("--listen: {}", listen_ep.error());
    return 2;
  }
  auto listener = control::Listener::create(
      *loop_, *listen_ep, admission_->max_connections(),
      [this](Fd fd, const sockaddr_in& from, control::ConnectionSlot slot) {
        on_accept(std::move(fd), from, std::move(slot));
      });
  if (!listener) {
    spdlog::error("{}", listener.error());
    return 2;
  }
  listener_ = std::move(*listener);
  if (!opt_.metrics.empty()) {
    auto m =
        control::MetricsServer::create(*loop_, opt_.metrics, [this] { return render_metrics(); });
    if (!m) {
      spdlog::error("{}", m.error());
      return 2;
    }
    metrics_ = std::move(*m);
    spdlog::info("metrics for Prometheus on http://{}/metrics", opt_.metrics);
  }

  // Hash in a worker while receivers connect: the manifest is needed only at session start.
  auto manifest_job = std::async(std::launch::async,
                                 [&src, &layout] { return build_manifest(src->bytes(), *layout); });
  RAND_bytes(reinterpret_cast<unsigned char*>(&session_id_), sizeof session_id_);
  while (beacon_nonce_ == 0) {
    RAND_bytes(reinterpret_cast<unsigned char*>(&beacon_nonce_), sizeof beacon_nonce_);
  }
  data_key_ = make_data_key(!opt_.frame_auth ? control::FrameSuite::kNone
                            : opt_.encrypt   ? control::FrameSuite::kAeadGcm
                                             : control::FrameSuite::kGmac);
  {
    std::optional<engine::FrameCrypto> crypto;
    if (data_key_->suite != control::FrameSuite::kNone) {
      auto c = engine::FrameCrypto::create(data_key_->key, protection_of(data_key_->suite));
      if (!c) {
        spdlog::error("{}", c.error());
        return 1;
      }
      crypto.emplace(std::move(*c));
    }
    builder_.emplace(session_id_, std::move(crypto));
  }
  session_msg_.session_id = session_id_;
  in_addr g{};
  g = *engine::parse_ipv4(opt_.group);
  session_msg_.group_ipv4 = ntohl(g.s_addr);
  session_msg_.port = opt_.port;
  session_msg_.ttl = static_cast<uint8_t>(opt_.ttl);
  session_msg_.rate_bps = opt_.rate_bps;
  session_msg_.symbol_size = static_cast<uint16_t>(opt_.symbol_size);
  session_msg_.k = static_cast<uint8_t>(opt_.k);
  session_msg_.proactive_repair = static_cast<uint8_t>(opt_.proactive);
  session_msg_.object_size = src->size();
  session_msg_.block_count = layout->block_count();
  session_msg_.object_name = opt_.object_name.empty()
                                 ? std::filesystem::path(opt_.path).filename().string()
                                 : opt_.object_name;
  session_msg_.object_format = format.format;
  // Receivers unpack or decompress a packed object before they answer with Done.
  opt_.answer_timeout_ns += finish_allowance_ns(format);

  spdlog::info(
      "sending '{}' ({}, {} blocks of {}x{} B) to {}:{} via {} at {}; waiting for {} receiver(s), "
      "up to {:.0f}s, on {}",
      session_msg_.object_name, format_bytes(double(src->size())), layout->block_count(), opt_.k,
      opt_.symbol_size, opt_.group, opt_.port,
      (opt_.iface.empty() ? std::string("default route") : opt_.iface),
      format_rate(double(opt_.rate_bps)), opt_.min_receivers, double(opt_.max_wait_ns) / 1e9,
      opt_.listen);

  // --announce: tell waiting `shoal recvd` daemons where to connect (announce/announce.h).
  auto announcer = announce_session(
      opt_.announce, opt_.iface, opt_.ttl, opt_.loopback, opt_.listen, listener_->port(),
      session_id_, src->size(), session_msg_.object_name, opt_.insecure ? std::nullopt : opt_.key);
  if (!announcer) {
    spdlog::error("{}", announcer.error());
    return 2;
  }
  // Join phase: start at once when enough receivers joined, or at the deadline with whoever came.
  const uint64_t join_deadline = t_start_ + opt_.max_wait_ns;
  while (count([](const Peer& q) { return q.admitted && q.state != PeerState::kFailed; }) <
         opt_.min_receivers) {
    uint64_t now = monotonic_ns();
    if (now >= join_deadline) break;
    if (*announcer) (*announcer)->tick(now);
    service(static_cast<int>(std::min<uint64_t>((join_deadline - now) / 1'000'000 + 1, 100)));
  }
  {
    Manifest manifest = manifest_job.get();
    session_msg_.object_sha256 = manifest.object_sha256;
    manifest_msgs_ = control::split_manifest(manifest.block_sha256);
  }
  started_ = true;
  size_t admitted =
      count([](const Peer& q) { return q.admitted && q.state != PeerState::kFailed; });
  if (admitted == 0) {
    spdlog::error(
        "no receiver joined within {:.0f}s: check that receivers use --sender {} with the same "
        "key, and that TCP port is reachable",
        double(opt_.max_wait_ns) / 1e9, opt_.listen);
    opt_.events.emit("end", {{"ok", 0}, {"failed", 0}, {"passes", 0}});
    return 1;
  }
  if (admitted < opt_.min_receivers) {
    spdlog::warn("--max-wait reached with {} of {} receivers: starting with those", admitted,
                 opt_.min_receivers);
  }
  opt_.events.emit("start", {{"object", session_msg_.object_name},
                             {"bytes", object_size_},
                             {"blocks", session_msg_.block_count},
                             {"session_id", session_hex(session_id_)},
                             {"receivers", admitted}});

  for (auto& [id, p] : peers_) {
    if (p.active()) send_session(p);
  }
  // Beacons on the group until every receiver has heard one (and said Ready): a snooping switch
  // forwards the group to a port only once it has seen that port's IGMP join, so data sent
  // right after the join would be lost to the receivers joining last.
  if (!beacon_until_ready(opt_.answer_timeout_ns)) {
    for (auto& [id, p] : peers_) {
      if (p.admitted && p.state == PeerState::kJoined)
        fail_peer(p, "did not confirm it joined the multicast group");
    }
  }

  // Passes: the whole object, then fresh repair rows for what is still missing.
  const fec::BlockLayout& lay = symbols_->layout();
  std::vector<uint8_t> ks(lay.block_count());
  for (uint32_t b = 0; b < lay.block_count(); ++b) ks[b] = static_cast<uint8_t>(lay.block_k(b));
  RowState rows(ks, static_cast<uint8_t>(opt_.proactive));
  std::vector<RepairRange> ranges = full_pass_ranges(rows, static_cast<uint8_t>(opt_.proactive));
  // Skip blocks that no receiver lacks (receivers resuming from an earlier run).
  {
    std::vector<uint8_t> wanted(lay.block_count(), 0);
    bool all_reported = true;
    for (const auto& [id, p] : peers_) {
      if (!p.multicast()) continue;
      all_reported &= p.initial;
      for (const auto& r : p.needs) {
        for (uint64_t b = r.first_block;
             b < std::min<uint64_t>(uint64_t{r.first_block} + r.count, wanted.size()); ++b) {
          wanted[b] = 1;
        }
      }
    }
    if (all_reported) {
      std::erase_if(ranges, [&](const RepairRange& r) { return !wanted[r.block]; });
      if (ranges.size() < lay.block_count() && count([](const Peer& q) { return q.multicast(); })) {
        spdlog::info("receivers already hold {} of {} blocks: the first pass sends only the rest",
                     lay.block_count() - ranges.size(), lay.block_count());
      }
    }
  }
  uint64_t burst = opt_.burst_bytes;
  if (burst == 0) burst = std::max<uint64_t>(opt_.rate_bps / 8 / 1000, 131072);
  engine::Pacer pacer(opt_.rate_bps, burst);
  if (auto_rate_) auto_rate_->attach(pacer);
  if (opt_.realtime) {
    // A pacer that wakes late loses rate: the bucket can only bank one burst. Real-time priority
    // keeps wake-ups on time on a busy host; the thread sleeps between batches, so it cannot hog
    // a core (and the kernel's RT throttling bounds it regardless).
    sched_param sp{};
    sp.sched_priority = 10;
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) {
      spdlog::info(
          "pacing at normal priority (real-time priority not permitted: {}); the rate may "
          "undershoot "
          "on a busy host",
          std::strerror(errno));
    }
  }
  DataPass pass(*symbols_, *tx->tx, pacer, *builder_, opt_.window_blocks,
                [this](int ms) { service(ms); });
  PlannerConfig pcfg;
  pcfg.unicast_budget_symbols = opt_.unicast_budget_symbols;
  RepairPlan plan;
  t_data_ = monotonic_ns();

  for (uint32_t n = 0; n < opt_.max_passes; ++n) {
    if (count([](const Peer& q) { return q.multicast(); }) == 0) break;
    PassStats ps;
    const uint64_t t_pass = monotonic_ns();
    pass_stats_ = &ps;
    pass_frames_ = 0;
    for (const auto& r : ranges) pass_frames_ += r.count;
    passes_ = n;
    if (!ranges.empty()) {
      Status s = pass.run(ranges, ps);
      if (!s) {
        spdlog::error("{}", s.error());
        for (auto& [id, p] : peers_) fail_peer(p, "sender stopped: " + s.error());
        break;
      }
    }
    pass_stats_ = nullptr;
    frames_sent_ += ps.frames;
    repair_frames_ += ps.repair_frames;
    opt_.events.emit("pass",
                     {{"pass", n}, {"frames", ps.frames}, {"repair_frames", ps.repair_frames}});
    {
      double secs = double(monotonic_ns() - t_pass) / 1e9;
      spdlog::debug(
          "pass {}: {} frames ({} repair) in {:.3f}s = {}", n, ps.frames, ps.repair_frames, secs,
          format_rate(secs > 0 ? double(ps.frames) *
                                     double(symbols_->layout().symbol_size() + engine::kHeaderSize +
                                            builder_->tag_len() + engine::kWireOverhead) *
                                     8 / secs
                               : 0));
    }
    send_unicast(plan);
    passes_ = n + 1;
    for (auto& [id, p] : peers_) {
      if (!p.multicast()) continue;
      p.asked = true;
      p.answered = false;
      p.conn->send(control::PassEnd{n, frames_sent_});
    }
    progress(n == 0 ? "pass 0" : "repair", 1.0, true);
    if (!wait_for(opt_.answer_timeout_ns, &SenderRun::all_answered)) {
      for (auto& [id, p] : peers_) {
        if (p.multicast() && !p.answered)
          fail_peer(p, "stopped answering after pass " + std::to_string(n));
      }
    }
    std::vector<ReceiverNeeds> needs;
    for (auto& [id, p] : peers_) {
      if (p.multicast()) needs.push_back({p.id, p.needs});
    }
    if (needs.empty()) break;
    plan = plan_repair(needs, rows, pcfg);
    ranges = plan.multicast;
    opt_.events.emit("repair", {{"pass", n},
                                {"receivers", needs.size()},
                                {"multicast_symbols", plan.multicast_symbols},
                                {"unicast_symbols", plan.unicast_symbols}});
    spdlog::info(
        "pass {}: {} receiver(s) still missing data; repair {} multicast + {} unicast symbols", n,
        needs.size(), plan.multicast_symbols, plan.unicast_symbols);
  }
  for (auto& [id, p] : peers_) {
    if (p.multicast()) {
      uint64_t blocks = 0;
      for (const auto& r : p.needs) blocks += r.count;
      fail_peer(p, "still missing " + std::to_string(blocks) + " block(s) after " +
                       std::to_string(passes_) +
                       " passes (heavy loss or a too slow receiver; try a lower --rate or more "
                       "--max-passes)");
    }
  }
  // Unicast receivers finish at the pace TCP gets to each; one that stops taking data fails alone.
  while (!unicast_done()) {
    service(50);
    const uint64_t now = monotonic_ns();
    for (auto& [id, p] : peers_) {
      if (!p.unicast || !p.active()) continue;
      const size_t pending = p.conn->pending_output();
      if (pending != p.last_pending || p.progress_ns == 0) {
        p.last_pending = pending;
        p.progress_ns = now;
      } else if (now - p.progress_ns > opt_.answer_timeout_ns) {
        fail_peer(p, "unicast stream stalled: the receiver took no data for " +
                         std::to_string(opt_.answer_timeout_ns / 1'000'000'000) + "s");
      }
    }
  }
  return finish();
}

int SenderRun::finish() {
  for (auto& [id, p] : peers_) {
    if (p.conn && p.conn->is_open()) {
      if (p.state == PeerState::kDone) p.conn->send(control::Bye{control::ByeCode::kFinished, ""});
      p.conn->finish("session over");
    }
  }
  // Let the Byes go out.
  const uint64_t deadline = monotonic_ns() + 2'000'000'000;
  while (monotonic_ns() < deadline) {
    bool pending = false;
    for (auto& [id, p] : peers_)
      pending |= p.conn && p.conn->is_open() && p.conn->pending_output() > 0;
    if (!pending) break;
    service(10);
  }

  const double sym = double(symbols_->layout().symbol_size());
  nlohmann::json j;
  j["object"] = session_msg_.object_name;
  j["bytes"] = object_size_;
  j["session_id"] = session_id_;
  j["passes"] = passes_;
  j["frames_sent"] = frames_sent_;
  j["repair_bytes_multicast"] = uint64_t(double(repair_frames_) * sym);
  j["seconds"] = double(monotonic_ns() - t_data_) / 1e9;
  if (auto_rate_) j["rate_auto"] = auto_rate_->summary();
  size_t ok = 0, failed = 0;
  // The table is for people: it goes to stderr when stdout carries the JSON.
  FILE* table = opt_.json_path == "-" ? stderr : stdout;
  std::fprintf(table, "\n%-20s %-22s %-8s %-9s %10s %12s %10s %12s  %s\n", "receiver", "address",
               "outcome", "path", "seconds", "goodput", "lost", "unicast", "reason");
  for (const auto& [id, p] : peers_) {
    if (!p.admitted || p.state == PeerState::kSuperseded) continue;
    bool done = p.state == PeerState::kDone;
    (done ? ok : failed)++;
    double secs = done ? double(p.done_ns - t_data_) / 1e9 : 0;
    double goodput = secs > 0 ? double(object_size_) * 8 / secs : 0;
    uint64_t lost =
        !p.unicast && p.frames_sent > p.frames_received ? p.frames_sent - p.frames_received : 0;
    nlohmann::json r;
    r["name"] = p.name;
    r["address"] = p.addr;
    r["outcome"] = done ? "done" : "failed";
    r["path"] = p.unicast ? "unicast" : "multicast";
    if (!p.identity.empty()) r["tls_identity"] = p.identity;
    if (!done) r["reason"] = p.reason;
    if (done && p.unicast) r["hint"] = p.reason;
    r["bytes"] = done ? object_size_ : p.done.bytes_written;
    r["seconds"] = secs;
    r["goodput_bps"] = goodput;
    r["symbols_lost"] = lost;
    r["repair_bytes_multicast"] = uint64_t(double(repair_frames_) * sym);
    r["repair_bytes_unicast"] = uint64_t(double(p.unicast_symbols) * sym);
    j["receivers"].push_back(r);
    std::fprintf(table, "%-20s %-22s %-8s %-9s %10.2f %12s %10llu %12s  %s\n", p.name.c_str(),
                 p.addr.c_str(), done ? "done" : "FAILED", p.unicast ? "unicast" : "multicast",
                 secs, format_rate(goodput).c_str(), (unsigned long long)lost,
                 format_bytes(double(p.unicast_symbols) * sym).c_str(),
                 done && !p.unicast ? "" : p.reason.c_str());
  }
  j["ok"] = ok;
  j["failed"] = failed;
  opt_.events.emit("end", {{"ok", ok}, {"failed", failed}, {"passes", passes_}});
  std::fprintf(table,
               "%zu of %zu receivers verified the object; %u pass(es), %s multicast repair\n", ok,
               ok + failed, passes_, format_bytes(double(repair_frames_) * sym).c_str());
  std::fflush(stdout);
  if (!opt_.json_path.empty()) {
    if (opt_.json_path == "-") {
      std::cout << j.dump() << std::endl;
    } else {
      std::ofstream(opt_.json_path) << j.dump(2) << "\n";
    }
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int run_sender(const SendOptions& options) {
  SenderRun s(options);
  return s.run();
}

}  // namespace shoal::session
