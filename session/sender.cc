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

#include "common/units.h"
#include "control/connection.h"
#include "control/endpoint.h"
#include "control/event_loop.h"
#include "control/listener.h"
#include "engine/net_iface.h"
#include "engine/pacer.h"
#include "engine/udp_tx.h"
#include "engine/wire.h"
#include "session/data_pass.h"
#include "session/manifest.h"
#include "session/object_source.h"
#include "session/pass_schedule.h"
#include "session/repair_planner.h"
#include "session/symbol_source.h"
#include "session/transport_select.h"

namespace shoal::session {

namespace {

constexpr size_t kMaxConnections = 20000;

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
  control::Done done;
  std::string reason;
  uint64_t unicast_symbols = 0;
  uint64_t frames_received = 0;  // datagrams the receiver accepted (its received minus rejected)
  uint64_t frames_sent = 0;      // multicast frames sent while it took part, as of its last answer
  uint64_t done_ns = 0;
  bool active() const {
    return admitted && (state == PeerState::kJoined || state == PeerState::kReady);
  }
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
  bool beacon_until_ready(engine::TxBackend& tx, uint64_t timeout_ns);
  bool all_ready() const;
  bool all_answered() const;
  void service(int timeout_ms);
  void send_unicast(const RepairPlan& plan);
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
  uint64_t t_start_ = 0, t_data_ = 0, last_progress_ns_ = 0;
  uint64_t frames_sent_ = 0, repair_frames_ = 0, object_size_ = 0;
  uint32_t passes_ = 0;
  const PassStats* pass_stats_ = nullptr;  // the running pass, for the progress line
  uint64_t pass_frames_ = 0;
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
  if (p.conn && p.conn->is_open()) {
    p.conn->send(control::Bye{control::ByeCode::kFailedReceiver, p.reason});
    p.conn->finish(p.reason);
  }
}

void SenderRun::on_accept(Fd fd, const sockaddr_in& from, control::ConnectionSlot slot) {
  uint32_t id = next_id_++;
  Peer& p = peers_[id];
  p.id = id;
  p.slot = std::move(slot);
  p.addr = control::format_endpoint(from);
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
  auto conn = control::Connection::create(*loop_, std::move(fd), cb);
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
      if (started_) {
        p.conn->send(session_msg_);
        for (const auto& mm : manifest_msgs_) p.conn->send(mm);
      }
    }
    return;
  }
  if (std::holds_alternative<control::Ready>(m)) {
    if (p.state == PeerState::kJoined) p.state = PeerState::kReady;
  } else if (const auto* nak = std::get_if<control::Nak>(&m)) {
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
    } else {
      fail_peer(p, d->reason);
    }
  } else {
    fail_peer(p, std::string("protocol error: unexpected ") + control::type_name(m));
  }
}

void SenderRun::service(int timeout_ms) {
  loop_->poll_once(timeout_ms);
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

bool SenderRun::beacon_until_ready(engine::TxBackend& tx, uint64_t timeout_ns) {
  engine::FrameHeader h;
  h.type = engine::kFrameBeacon;
  h.k = 1;
  h.session = session_id_;
  h.payload_len = 8;
  const uint8_t payload[8] = {};
  uint8_t frame[engine::kHeaderSize + 8];
  const size_t len = engine::encode_frame(h, payload, {}, frame);
  const engine::TxFrame f{frame, static_cast<uint16_t>(len), nullptr, 0, nullptr, 0};
  const uint64_t deadline = monotonic_ns() + timeout_ns;
  while (!all_ready()) {
    if (monotonic_ns() >= deadline) return false;
    (void)tx.tx_burst(&f, 1);  // a beacon lost is sent again 20 ms later
    service(20);
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
      control::Repair r;
      r.block = u.range.block;
      r.esi = static_cast<uint8_t>(esi);
      r.payload = {outs[i], sym};
      if (!p.conn->send(r)) {
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
  const double frame_bits =
      double(symbols_->layout().symbol_size() + engine::kHeaderSize + DataPass::kWireOverhead) * 8;
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
  if (!opt_.key && !opt_.insecure) {
    spdlog::error(
        "no key: pass --key-file FILE (make one with `shoal keygen > shoal.key`), or --insecure");
    return 2;
  }
  if (opt_.insecure) spdlog::warn("--insecure: any host that reaches the control port can join");

  auto src = ObjectSource::open(opt_.path);
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

  TransportOptions to;
  to.mode = opt_.transport;
  to.dpdk_args = opt_.dpdk_args;
  to.dpdk_device = opt_.dpdk_device;
  to.group = opt_.group;
  to.port = opt_.port;
  to.iface = opt_.iface;
  to.ttl = opt_.ttl;
  to.loopback = opt_.loopback;
  auto tx = open_transport(to);
  if (!tx) {
    spdlog::error("{}", tx.error());
    return 2;
  }
  spdlog::info("data plane: {}", tx->why);

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
      *loop_, *listen_ep, kMaxConnections,
      [this](Fd fd, const sockaddr_in& from, control::ConnectionSlot slot) {
        on_accept(std::move(fd), from, std::move(slot));
      });
  if (!listener) {
    spdlog::error("{}", listener.error());
    return 2;
  }
  listener_ = std::move(*listener);

  // Hash in a worker while receivers connect: the manifest is needed only at session start.
  auto manifest_job = std::async(std::launch::async,
                                 [&src, &layout] { return build_manifest(src->bytes(), *layout); });
  RAND_bytes(reinterpret_cast<unsigned char*>(&session_id_), sizeof session_id_);
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

  spdlog::info(
      "sending '{}' ({}, {} blocks of {}x{} B) to {}:{} via {} at {}; waiting for {} receiver(s), "
      "up to {:.0f}s, on {}",
      session_msg_.object_name, format_bytes(double(src->size())), layout->block_count(), opt_.k,
      opt_.symbol_size, opt_.group, opt_.port,
      (opt_.iface.empty() ? std::string("default route") : opt_.iface),
      format_rate(double(opt_.rate_bps)), opt_.min_receivers, double(opt_.max_wait_ns) / 1e9,
      opt_.listen);

  // Join phase: start at once when enough receivers joined, or at the deadline with whoever came.
  const uint64_t join_deadline = t_start_ + opt_.max_wait_ns;
  while (count([](const Peer& q) { return q.admitted && q.state != PeerState::kFailed; }) <
         opt_.min_receivers) {
    uint64_t now = monotonic_ns();
    if (now >= join_deadline) break;
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
    return 1;
  }
  if (admitted < opt_.min_receivers) {
    spdlog::warn("--max-wait reached with {} of {} receivers: starting with those", admitted,
                 opt_.min_receivers);
  }

  for (auto& [id, p] : peers_) {
    if (!p.active()) continue;
    p.conn->send(session_msg_);
    for (const auto& mm : manifest_msgs_) p.conn->send(mm);
  }
  // Beacons on the group until every receiver has heard one (and said Ready): a snooping switch
  // forwards the group to a port only once it has seen that port's IGMP join, so data sent
  // right after the join would be lost to the receivers joining last.
  if (!beacon_until_ready(*tx->tx, opt_.answer_timeout_ns)) {
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
      if (!p.active()) continue;
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
      if (ranges.size() < lay.block_count()) {
        spdlog::info("receivers already hold {} of {} blocks: the first pass sends only the rest",
                     lay.block_count() - ranges.size(), lay.block_count());
      }
    }
  }
  uint64_t burst = opt_.burst_bytes;
  if (burst == 0) burst = std::max<uint64_t>(opt_.rate_bps / 8 / 1000, 131072);
  engine::Pacer pacer(opt_.rate_bps, burst);
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
  DataPass pass(*symbols_, *tx->tx, pacer, session_id_, opt_.window_blocks,
                [this](int ms) { service(ms); });
  PlannerConfig pcfg;
  pcfg.unicast_budget_symbols = opt_.unicast_budget_symbols;
  RepairPlan plan;
  t_data_ = monotonic_ns();

  for (uint32_t n = 0; n < opt_.max_passes; ++n) {
    if (count([](const Peer& q) { return q.active(); }) == 0) break;
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
    {
      double secs = double(monotonic_ns() - t_pass) / 1e9;
      spdlog::debug(
          "pass {}: {} frames ({} repair) in {:.3f}s = {}", n, ps.frames, ps.repair_frames, secs,
          format_rate(secs > 0
                          ? double(ps.frames) * (symbols_->layout().symbol_size() + 60) * 8 / secs
                          : 0));
    }
    send_unicast(plan);
    passes_ = n + 1;
    for (auto& [id, p] : peers_) {
      if (!p.active()) continue;
      p.asked = true;
      p.answered = false;
      p.conn->send(control::PassEnd{n, frames_sent_});
    }
    progress(n == 0 ? "pass 0" : "repair", 1.0, true);
    if (!wait_for(opt_.answer_timeout_ns, &SenderRun::all_answered)) {
      for (auto& [id, p] : peers_) {
        if (p.active() && !p.answered)
          fail_peer(p, "stopped answering after pass " + std::to_string(n));
      }
    }
    std::vector<ReceiverNeeds> needs;
    for (auto& [id, p] : peers_) {
      if (p.active()) needs.push_back({p.id, p.needs});
    }
    if (needs.empty()) break;
    plan = plan_repair(needs, rows, pcfg);
    ranges = plan.multicast;
    spdlog::info(
        "pass {}: {} receiver(s) still missing data; repair {} multicast + {} unicast symbols", n,
        needs.size(), plan.multicast_symbols, plan.unicast_symbols);
  }
  for (auto& [id, p] : peers_) {
    if (p.active()) {
      uint64_t blocks = 0;
      for (const auto& r : p.needs) blocks += r.count;
      fail_peer(p, "still missing " + std::to_string(blocks) + " block(s) after " +
                       std::to_string(passes_) +
                       " passes (heavy loss or a too slow receiver; try a lower --rate or more "
                       "--max-passes)");
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
  size_t ok = 0, failed = 0;
  // The table is for people: it goes to stderr when stdout carries the JSON.
  FILE* table = opt_.json_path == "-" ? stderr : stdout;
  std::fprintf(table, "\n%-20s %-22s %-8s %10s %12s %10s %12s  %s\n", "receiver", "address",
               "outcome", "seconds", "goodput", "lost", "unicast", "reason");
  for (const auto& [id, p] : peers_) {
    if (!p.admitted || p.state == PeerState::kSuperseded) continue;
    bool done = p.state == PeerState::kDone;
    (done ? ok : failed)++;
    double secs = done ? double(p.done_ns - t_data_) / 1e9 : 0;
    double goodput = secs > 0 ? double(object_size_) * 8 / secs : 0;
    uint64_t lost = p.frames_sent > p.frames_received ? p.frames_sent - p.frames_received : 0;
    nlohmann::json r;
    r["name"] = p.name;
    r["address"] = p.addr;
    r["outcome"] = done ? "done" : "failed";
    if (!done) r["reason"] = p.reason;
    r["bytes"] = done ? object_size_ : p.done.bytes_written;
    r["seconds"] = secs;
    r["goodput_bps"] = goodput;
    r["symbols_lost"] = lost;
    r["repair_bytes_multicast"] = uint64_t(double(repair_frames_) * sym);
    r["repair_bytes_unicast"] = uint64_t(double(p.unicast_symbols) * sym);
    j["receivers"].push_back(r);
    std::fprintf(table, "%-20s %-22s %-8s %10.2f %12s %10llu %12s  %s\n", p.name.c_str(),
                 p.addr.c_str(), done ? "done" : "FAILED", secs, format_rate(goodput).c_str(),
                 (unsigned long long)lost, format_bytes(double(p.unicast_symbols) * sym).c_str(),
                 done ? "" : p.reason.c_str());
  }
  j["ok"] = ok;
  j["failed"] = failed;
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
