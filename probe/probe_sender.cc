#include "probe/probe_sender.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <openssl/rand.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>

#include "common/clock.h"
#include "common/units.h"
#include "control/connection.h"
#include "control/endpoint.h"
#include "control/event_loop.h"
#include "control/listener.h"
#include "engine/net_iface.h"
#include "engine/pacer.h"
#include "engine/transport_select.h"
#include "engine/wire.h"
#include "probe/probe_protocol.h"
#include "probe/probe_report.h"
#include "probe/probe_search.h"
#include "probe/probe_stats.h"
#include "probe/probe_svg.h"

namespace shoal::session {
namespace {

constexpr int kBurst = 64;
constexpr uint64_t kServiceEveryNs = 2'000'000;
constexpr uint64_t kJoinedWaitNs = 5'000'000'000;  // receivers answer 3 s after Start at the latest
constexpr uint64_t kReportWaitNs = 3'000'000'000;
constexpr uint32_t kBeaconFrame = engine::kHeaderSize + 64;
constexpr uint32_t kMtuSmallFrame = 1400;
constexpr uint64_t kMtuFrames = 200;
constexpr uint64_t kMtuMaxRate = 50'000'000;
constexpr double kSenderSlack = 0.95;  // offered below this share of the target: sender-limited
constexpr unsigned kMaxRedos = 4;      // disturbed search steps repeated, in all

enum class PeerState { kHandshake, kAdmitted, kReady, kFailed, kGone };

struct Peer {
  uint32_t id = 0;
  std::shared_ptr<control::Connection> conn;
  control::ConnectionSlot slot;
  std::optional<control::ServerHandshake> hs;
  sockaddr_in from{};
  uint64_t connected_ns = 0;
  PeerState state = PeerState::kHandshake;
  int index = -1;  // into ProbeResult::receivers once the probe started
  uint32_t awaiting = 0;
  std::optional<ProbeReport> report;
};

// Unicast datagrams to one receiver through a kernel socket (the comparison needs unicast even
// when the multicast path is DPDK). Runs of equal-sized frames go as UDP GSO super-datagrams
// (gathered with iovecs, nothing copied), so unicast keeps up with the multicast path; without
// GSO, one datagram per message of one sendmmsg call.
class UnicastTx final : public engine::TxBackend {
 public:
  static Result<std::unique_ptr<UnicastTx>> open(const sockaddr_in& to) {
    std::unique_ptr<UnicastTx> t(new UnicastTx());
    t->fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!t->fd_) return make_error(std::string("cannot open a UDP socket: ") + strerror(errno));
    const int buf = 4 << 20;
    if (::setsockopt(t->fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
      (void)::setsockopt(t->fd_.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (::connect(t->fd_.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
      return make_error("cannot reach " + control::format_endpoint(to) + ": " + strerror(errno));
    int zero = 0;
    t->gso_ = ::setsockopt(t->fd_.get(), SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
    return t;
  }
  int tx_burst(const engine::TxFrame* frames, int n) override {
    n = std::min(n, kBurst);
    int m = 0, f = 0, v = 0;
    std::memset(msgs_, 0, sizeof msgs_);
    while (f < n) {
      // One message: a run of equal-sized frames within the GSO limits, or a single frame.
      const uint32_t size = frames[f].size();
      int count = 1;
      if (gso_) {
        while (f + count < n && frames[f + count].size() == size && count < kMaxSegments &&
               uint64_t(count + 1) * size <= kMaxUdpPayload)
          ++count;
      }
      iovec* first = &iov_[v];
      for (int i = f; i < f + count; ++i) {
        if (frames[i].header_len)
          iov_[v++] = {const_cast<uint8_t*>(frames[i].header), frames[i].header_len};
        if (frames[i].payload_len)
          iov_[v++] = {const_cast<uint8_t*>(frames[i].payload), frames[i].payload_len};
        if (frames[i].tail_len)
          iov_[v++] = {const_cast<uint8_t*>(frames[i].tail), frames[i].tail_len};
      }
      msghdr& h = msgs_[m].msg_hdr;
      h.msg_iov = first;
      h.msg_iovlen = static_cast<size_t>(&iov_[v] - first);
      if (count > 1) {
        h.msg_control = cmsg_[m].b;
        h.msg_controllen = sizeof cmsg_[m].b;
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        const auto seg = static_cast<uint16_t>(size);
        std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
      }
      frames_in_[m++] = count;
      f += count;
    }
    const int r = ::sendmmsg(fd_.get(), msgs_, static_cast<unsigned>(m), MSG_DONTWAIT);
    if (r < 0) {
      if ((errno == EIO || errno == EINVAL) && gso_) {
        gso_ = false;  // the device cannot segment after all: one datagram per message
        return 0;
      }
      return -errno;
    }
    int taken = 0;
    for (int i = 0; i < r; ++i) taken += frames_in_[i];
    return taken;
  }
  const char* name() const override { return "udp-unicast"; }

 private:
  static constexpr int kMaxSegments = 64;
  static constexpr uint64_t kMaxUdpPayload = 65535 - 20 - 8;
  UnicastTx() = default;
  Fd fd_;
  bool gso_ = false;
  mmsghdr msgs_[kBurst];
  iovec iov_[kBurst * 3];
  struct alignas(cmsghdr) Cmsg {
    unsigned char b[CMSG_SPACE(sizeof(uint16_t))];
  } cmsg_[kBurst];
  int frames_in_[kBurst];
};

// Builds PROBE frames into reused buffers: no allocation per frame.
class FrameBatch {
 public:
  FrameBatch(uint64_t probe_id, uint32_t max_frame)
      : probe_id_(probe_id),
        max_payload_(max_frame - engine::kHeaderSize),
        headers_(size_t{kBurst} * engine::kHeaderSize),
        payloads_(size_t{kBurst} * max_payload_, 0),
        frames_(kBurst) {}

  const engine::TxFrame* build(uint32_t step, uint32_t first_seq, int n, uint32_t frame_bytes,
                               ProbeFrameKind kind, uint64_t now_ns) {
    const auto len = static_cast<uint16_t>(frame_bytes - engine::kHeaderSize);
    for (int f = 0; f < n; ++f) {
      uint8_t* payload = payloads_.data() + size_t(f) * max_payload_;
      encode_probe_payload({now_ns, kind}, {payload, len});
      engine::FrameHeader h;
      h.type = engine::kFrameProbe;
      h.k = 1;
      h.session = probe_id_;
      h.block = step;
      h.payload_len = len;
      h.sequence = first_seq + static_cast<uint32_t>(f);
      uint8_t* hdr = headers_.data() + size_t(f) * engine::kHeaderSize;
      engine::encode_header(h, {payload, len}, {}, hdr);
      frames_[size_t(f)] = {hdr, static_cast<uint16_t>(engine::kHeaderSize), payload, len, nullptr,
                            0};
    }
    return frames_.data();
  }

 private:
  uint64_t probe_id_;
  size_t max_payload_;
  std::vector<uint8_t> headers_, payloads_;
  std::vector<engine::TxFrame> frames_;
};

struct StepPlan {
  StepKind kind = StepKind::kSearch;
  std::string phase;
  uint64_t rate_bps = 0;
  uint64_t dwell_ns = 0;    // send for this long ...
  uint64_t max_frames = 0;  // ... or this many frames (0 = no limit)
  uint32_t frame_bytes = 0;
  int unicast_to = -1;  // receiver index
};

class ProbeRun {
 public:
  explicit ProbeRun(const ProbeOptions& o) : opt_(o) {}
  int run();

 private:
  void on_accept(Fd fd, const sockaddr_in& from, control::ConnectionSlot slot);
  void on_message(Peer& p, const control::Message& m);
  void fail(Peer& p, const std::string& why);
  void service(int timeout_ms);
  void expire_joins();
  bool wait_until(uint64_t deadline_ns, bool (ProbeRun::*done)() const);
  bool all_ready() const;
  bool all_reported() const;
  Peer* peer_at(int index);
  void beacon();
  Result<StepResult> run_step(const StepPlan& plan);
  Status pace(const StepPlan& plan, engine::TxBackend& tx, uint32_t step, StepResult& out);
  bool disturbed(const StepResult& s) const;
  void search();
  void compare_unicast();
  void check_mtu();
  int finish();

  ProbeOptions opt_;
  std::unique_ptr<control::EventLoop> loop_;
  std::unique_ptr<control::Listener> listener_;
  std::shared_ptr<control::TlsContext> tls_;
  std::optional<control::Admission> admission_;
  uint64_t last_expiry_ns_ = 0;
  std::map<uint32_t, Peer> peers_;
  uint32_t next_id_ = 1;
  bool started_ = false;
  uint64_t probe_id_ = 0;
  engine::OpenTransport tx_;
  std::optional<FrameBatch> batch_;
  uint32_t step_ = 0;
  uint32_t beacon_seq_ = 0;
  ProbeResult result_;
  uint64_t t_start_ = 0;
  uint32_t max_frame_ = 0;
};

void ProbeRun::fail(Peer& p, const std::string& why) {
  if (p.state == PeerState::kFailed || p.state == PeerState::kGone) return;
  spdlog::warn("receiver {} ({}) dropped out: {}", p.hs ? p.hs->receiver_name() : "?",
               control::format_endpoint(p.from), why);
  p.state = PeerState::kFailed;
  if (p.index >= 0) result_.receivers[size_t(p.index)].failure = why;
  if (p.conn && p.conn->is_open()) {
    p.conn->send(control::Bye{control::ByeCode::kFailedReceiver, why});
    p.conn->finish(why);
  }
}

void ProbeRun::service(int timeout_ms) {
  loop_->poll_once(timeout_ms);
  expire_joins();
}

// Joins that take too long (a slow or idle peer) lose their connection and their slot.
void ProbeRun::expire_joins() {
  const uint64_t now = monotonic_ns();
  if (now - last_expiry_ns_ < 100'000'000) return;  // this grain is plenty; keeps steps cheap
  last_expiry_ns_ = now;
  for (auto& [id, p] : peers_) {
    if (p.state != PeerState::kHandshake || !p.conn || !p.conn->is_open()) continue;
    if (!admission_->join_expired(p.connected_ns, now)) continue;
    spdlog::warn("dropped {}: no complete join within {:.0f}s", control::format_endpoint(p.from),
                 admission_->handshake_timeout_s());
    p.state = PeerState::kGone;
    p.conn->close("join timed out");
  }
}

void ProbeRun::on_accept(Fd fd, const sockaddr_in& from, control::ConnectionSlot slot) {
  if (!admission_->address_allowed(from)) {
    // Closed before a byte is read: a host outside --allow learns nothing and costs nothing.
    spdlog::warn("refused {}: not in --allow", control::format_endpoint(from));
    return;
  }
  const uint32_t id = next_id_++;
  Peer& p = peers_[id];
  p.id = id;
  p.slot = std::move(slot);
  p.from = from;
  p.connected_ns = monotonic_ns();
  p.hs.emplace(opt_.insecure ? std::nullopt : opt_.key, id, control::random_nonce());
  control::Connection::Callbacks cb;
  cb.on_message = [this, id](control::Connection&, const control::Message& m) {
    if (auto it = peers_.find(id); it != peers_.end()) on_message(it->second, m);
  };
  cb.on_close = [this, id](control::Connection&, const std::string& why) {
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    if (it->second.state == PeerState::kHandshake) {
      it->second.state = PeerState::kGone;
    } else if (it->second.state != PeerState::kGone) {
      fail(it->second, "connection lost: " + why);
    }
  };
  control::Connection::Limits limits;
  limits.max_message_size = control::Admission::kJoinMessageLimit;  // raised once it has joined
  auto conn = control::Connection::create(*loop_, std::move(fd), cb, limits, tls_);
  if (!conn) {
    spdlog::warn("cannot serve {}: {}", control::format_endpoint(from), conn.error());
    peers_.erase(id);
    return;
  }
  p.conn = std::move(*conn);
}

void ProbeRun::on_message(Peer& p, const control::Message& m) {
  if (p.state == PeerState::kHandshake) {
    if (p.hs->state() == control::ServerHandshake::State::kAwaitHello) {
      // A message arrived, so a TLS handshake is complete: check the certificate's name first.
      if (auto why = admission_->identity_refused(*p.conn)) {
        spdlog::warn("refused {}: {}", control::format_endpoint(p.from), *why);
        p.conn->send(control::Reject{*why});
        p.state = PeerState::kGone;
        p.conn->finish(*why);
        return;
      }
    }
    control::Message reply = p.hs->on_message(m);
    p.conn->send(reply);
    if (const auto* rej = std::get_if<control::Reject>(&reply)) {
      spdlog::warn("refused {}: {}", control::format_endpoint(p.from), rej->reason);
      p.state = PeerState::kGone;
      p.conn->finish(rej->reason);
    } else if (p.hs->accepted()) {
      if (started_) {
        p.state = PeerState::kGone;
        p.conn->send(control::Bye{control::ByeCode::kAborted,
                                  "the probe is already running; join the next one"});
        p.conn->finish("late");
        return;
      }
      p.state = PeerState::kAdmitted;
      p.conn->set_max_message_size(control::kMaxMessageSize);
      spdlog::info("receiver {} joined from {}", p.hs->receiver_name(),
                   control::format_endpoint(p.from));
    }
    return;
  }
  const auto* probe = std::get_if<control::Probe>(&m);
  if (!probe) return fail(p, std::string("protocol error: unexpected ") + control::type_name(m));
  auto pm = decode_probe(*probe);
  if (!pm) return fail(p, "protocol error: " + pm.error());
  if (const auto* j = std::get_if<ProbeJoined>(&*pm)) {
    if (p.state != PeerState::kAdmitted || p.index < 0) return;
    ReceiverInfo& r = result_.receivers[size_t(p.index)];
    r.joined = true;
    r.heard = j->heard;
    r.iface = j->iface;
    r.iface_ipv4 = j->iface_ipv4;
    r.iface_mtu = j->iface_mtu;
    r.unicast_port = j->unicast_port;
    p.state = PeerState::kReady;
  } else if (const auto* rep = std::get_if<ProbeReport>(&*pm)) {
    if (p.awaiting != 0 && rep->step == p.awaiting) p.report = *rep;
  } else {
    fail(p,
         std::string("protocol error: unexpected probe message ") + probe_kind_name(probe->kind));
  }
}

bool ProbeRun::wait_until(uint64_t deadline_ns, bool (ProbeRun::*done)() const) {
  while (!(this->*done)()) {
    const uint64_t now = monotonic_ns();
    if (now >= deadline_ns) return false;
    service(static_cast<int>(std::min<uint64_t>((deadline_ns - now) / 1'000'000 + 1, 20)));
  }
  return true;
}

bool ProbeRun::all_ready() const {
  return std::none_of(peers_.begin(), peers_.end(),
                      [](const auto& kv) { return kv.second.state == PeerState::kAdmitted; });
}

bool ProbeRun::all_reported() const {
  return std::none_of(peers_.begin(), peers_.end(), [](const auto& kv) {
    return kv.second.state == PeerState::kReady && kv.second.awaiting != 0 && !kv.second.report;
  });
}

Peer* ProbeRun::peer_at(int index) {
  for (auto& [id, p] : peers_)
    if (p.index == index) return &p;
  return nullptr;
}

// Beacons on the group until every receiver said whether it hears them.
void ProbeRun::beacon() {
  const uint64_t deadline = monotonic_ns() + kJoinedWaitNs;
  while (!all_ready() && monotonic_ns() < deadline) {
    const engine::TxFrame* f = batch_->build(kBeaconStep, beacon_seq_++, 1, kBeaconFrame,
                                             ProbeFrameKind::kBeacon, monotonic_ns());
    (void)tx_.tx->tx_burst(f, 1);  // a beacon lost is sent again 20 ms later
    service(20);
  }
  for (auto& [id, p] : peers_) {
    if (p.state == PeerState::kAdmitted) fail(p, "did not answer the probe's start");
  }
}

Status ProbeRun::pace(const StepPlan& plan, engine::TxBackend& tx, uint32_t step, StepResult& out) {
  const uint32_t charge = plan.frame_bytes + engine::kWireOverhead;
  uint64_t burst =
      opt_.burst_bytes ? opt_.burst_bytes : std::max<uint64_t>(plan.rate_bps / 8 / 1000, 131072);
  burst = std::max<uint64_t>(burst, 2 * uint64_t{charge});
  engine::Pacer pacer(plan.rate_bps, burst);
  const int batch = static_cast<int>(std::clamp<uint64_t>(burst / 2 / charge, 1, kBurst));
  const ProbeFrameKind kind = plan.kind == StepKind::kUnicast ? ProbeFrameKind::kUnicast
                              : plan.kind == StepKind::kMtuSmall || plan.kind == StepKind::kMtuLarge
                                  ? ProbeFrameKind::kMtu
                                  : ProbeFrameKind::kMulticast;
  const uint64_t t0 = monotonic_ns();
  // Start with an empty bucket: a step offers its rate from the first frame, with no burst.
  pacer.consume(t0, pacer.budget(t0));
  uint64_t last_service = t0, now = t0, seq = 0;
  for (;;) {
    now = monotonic_ns();
    if (plan.max_frames ? seq >= plan.max_frames : now - t0 >= plan.dwell_ns) break;
    if (now - last_service > kServiceEveryNs) {
      service(0);
      last_service = now;
    }
    int n = batch;
    if (plan.max_frames) n = static_cast<int>(std::min<uint64_t>(n, plan.max_frames - seq));
    const auto d = pacer.try_send(now, static_cast<uint32_t>(n) * charge);
    if (!d.send) {
      // Never past the end of a timed step, never longer than 100 ms at a time.
      uint64_t until = std::min(d.not_before_ns, now + 100'000'000);
      if (!plan.max_frames) until = std::min(until, t0 + plan.dwell_ns);
      if (until - now > 2'000'000) {
        service(static_cast<int>((until - now) / 1'000'000 - 1));
        last_service = monotonic_ns();
      } else {
        timespec ts{static_cast<time_t>(until / 1'000'000'000),
                    static_cast<long>(until % 1'000'000'000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
        }
      }
      continue;
    }
    const engine::TxFrame* frames =
        batch_->build(step, static_cast<uint32_t>(seq), n, plan.frame_bytes, kind, now);
    int sent = 0;
    const uint64_t first_try = monotonic_ns();
    while (sent < n) {
      const int r = tx.tx_burst(frames + sent, n - sent);
      if (r > 0) {
        sent += r;
      } else if ((r == 0 || r == -EAGAIN || r == -ENOBUFS || r == -EINTR) &&
                 monotonic_ns() - first_try < 1'000'000'000) {
        timespec ts{0, 50'000};  // queue full: the pacer already counted these bytes
        nanosleep(&ts, nullptr);
      } else {
        out.frames_sent = seq + uint64_t(sent);
        return make_error(r < 0 && r != -EAGAIN && r != -ENOBUFS && r != -EINTR
                              ? std::string("sending probe frames failed: ") + strerror(-r)
                              : std::string("the transport took no frame for 1 s"));
      }
    }
    seq += uint64_t(n);
  }
  out.frames_sent = seq;
  out.seconds = double(now - t0) / 1e9;
  out.offered_bps =
      out.seconds > 0 ? static_cast<uint64_t>(double(seq) * charge * 8 / out.seconds) : 0;
  return {};
}

Result<StepResult> ProbeRun::run_step(const StepPlan& plan) {
  StepResult s;
  s.step = ++step_;
  s.kind = plan.kind;
  s.phase = plan.phase;
  s.target_bps = plan.rate_bps;
  s.frame_bytes = plan.frame_bytes;
  s.unicast_to = plan.unicast_to;
  s.receivers.resize(result_.receivers.size());
  std::unique_ptr<UnicastTx> uni;
  Peer* target = nullptr;
  if (plan.kind == StepKind::kUnicast) {
    target = peer_at(plan.unicast_to);
    if (!target || target->state != PeerState::kReady) return s;
    sockaddr_in to = target->from;
    to.sin_port = htons(result_.receivers[size_t(plan.unicast_to)].unicast_port);
    auto u = UnicastTx::open(to);
    if (!u) return make_error(u.error());
    uni = std::move(*u);
  }
  Status st = pace(plan, uni ? static_cast<engine::TxBackend&>(*uni) : *tx_.tx, s.step, s);
  if (!st) return make_error(st.error());
  for (auto& [id, p] : peers_) {
    if (p.state != PeerState::kReady || (target && &p != target)) continue;
    p.awaiting = s.step;
    p.report.reset();
    p.conn->send(encode_probe(ProbeStepEnd{s.step, s.frames_sent}));
  }
  if (!wait_until(monotonic_ns() + kReportWaitNs, &ProbeRun::all_reported)) {
    for (auto& [id, p] : peers_) {
      if (p.state == PeerState::kReady && p.awaiting == s.step && !p.report)
        fail(p, "did not report step " + std::to_string(s.step));
    }
  }
  for (auto& [id, p] : peers_) {
    if (p.awaiting != s.step) continue;
    p.awaiting = 0;
    if (!p.report || p.index < 0) continue;
    ReceiverStep& r = s.receivers[size_t(p.index)];
    r.answered = true;
    r.received = p.report->received;
    r.duplicated = p.report->duplicated;
    r.reordered = p.report->reordered;
    r.has_delay = p.report->has_delay;
    r.delay_min_ns = p.report->delay_min_ns;
    r.delay_max_ns = p.report->delay_max_ns;
    r.socket_drops = p.report->socket_drops;
    r.rejected = p.report->rejected;
  }
  s.pass = true;
  for (size_t r = 0; r < s.receivers.size(); ++r) {
    if (!counts_for_search(result_.receivers[r])) continue;
    if (!s.receivers[r].answered || step_loss(s, r) > opt_.loss_threshold) s.pass = false;
  }
  return s;
}

// A search step whose outcome may be an accident of a busy host rather than the network: the
// sender fell short of the target, or the loss was mostly receivers' own kernel dropping
// datagrams.
bool ProbeRun::disturbed(const StepResult& s) const {
  if (double(s.offered_bps) < kSenderSlack * double(s.target_bps)) return true;
  if (s.pass) return false;
  for (size_t r = 0; r < s.receivers.size(); ++r) {
    const uint64_t lost = StepStats::lost(s.frames_sent, s.receivers[r].received);
    if (counts_for_search(result_.receivers[r]) && step_loss(s, r) > opt_.loss_threshold &&
        s.receivers[r].socket_drops * 2 >= lost)
      return true;
  }
  return false;
}

void ProbeRun::search() {
  SearchConfig cfg;
  cfg.from_bps = opt_.from_bps;
  cfg.to_bps = opt_.to_bps;
  cfg.sender_slack = kSenderSlack;
  KneeSearch ks(cfg);
  unsigned redos = 0;
  uint64_t redone_rate = 0;
  while (auto rate = ks.next()) {
    if (std::none_of(result_.receivers.begin(), result_.receivers.end(), counts_for_search)) break;
    StepPlan plan;
    plan.phase = to_string(ks.phase());
    plan.rate_bps = *rate;
    plan.dwell_ns = opt_.dwell_ns;
    plan.frame_bytes = engine::kHeaderSize + opt_.symbol_size;
    auto s = run_step(plan);
    if (!s) {
      spdlog::error("{}", s.error());
      break;
    }
    double worst = 0;
    for (size_t r = 0; r < s->receivers.size(); ++r)
      if (s->receivers[r].answered) worst = std::max(worst, step_loss(*s, r));
    // Each rate is repeated at most once: a sender or receiver short at a rate twice is a limit.
    const bool redo = redos < kMaxRedos && *rate != redone_rate && disturbed(*s);
    spdlog::info("step {:2} {:6} {:>14} offered {:>14}: worst loss {:.4f}% {}", s->step, plan.phase,
                 format_rate(double(*rate)), format_rate(double(s->offered_bps)), worst * 100,
                 redo      ? "disturbed (sender short or receiver drops): repeating"
                 : s->pass ? "ok"
                           : "LOSS");
    if (redo) {
      ++redos;
      redone_rate = *rate;
      s->redone = true;
    } else {
      ks.record(s->pass, s->offered_bps);
    }
    result_.steps.push_back(std::move(*s));
  }
  result_.max_ok_bps = ks.max_ok_bps();
  result_.first_bad_bps = ks.first_bad_bps();
  result_.limit = ks.phase() == SearchPhase::kDone ? ks.limit() : SearchLimit::kNone;
}

void ProbeRun::compare_unicast() {
  // Clearly above the knee, where a multicast policer loses ~10%: at the knee itself the loss is
  // a matter of chance and the comparison says little.
  const uint64_t rate = result_.first_bad_bps ? result_.first_bad_bps + result_.first_bad_bps / 10
                        : result_.max_ok_bps  ? result_.max_ok_bps
                                              : opt_.from_bps;
  StepPlan plan;
  plan.rate_bps = rate;
  plan.dwell_ns = std::min<uint64_t>(opt_.dwell_ns, 500'000'000);
  plan.frame_bytes = engine::kHeaderSize + opt_.symbol_size;
  plan.kind = StepKind::kReference;
  auto ref = run_step(plan);
  if (!ref) return spdlog::warn("unicast comparison skipped: {}", ref.error());
  result_.steps.push_back(std::move(*ref));
  plan.kind = StepKind::kUnicast;
  for (size_t i = 0; i < result_.receivers.size(); ++i) {
    if (!result_.receivers[i].joined || !result_.receivers[i].failure.empty()) continue;
    plan.unicast_to = static_cast<int>(i);
    auto u = run_step(plan);
    if (!u) {
      spdlog::warn("unicast to {} failed: {}", result_.receivers[i].name, u.error());
      continue;
    }
    result_.steps.push_back(std::move(*u));
  }
}

void ProbeRun::check_mtu() {
  const uint32_t large = max_frame_;
  const uint32_t small = std::min(kMtuSmallFrame, large);
  if (large <= small) {
    spdlog::info("MTU check skipped: the sender's interface takes no frame above {} bytes", small);
    return;
  }
  StepPlan plan;
  plan.rate_bps = std::clamp<uint64_t>(result_.max_ok_bps / 2, 1'000'000, kMtuMaxRate);
  plan.max_frames = kMtuFrames;
  for (auto [kind, bytes] : {std::pair{StepKind::kMtuSmall, small}, {StepKind::kMtuLarge, large}}) {
    plan.kind = kind;
    plan.frame_bytes = bytes;
    auto s = run_step(plan);
    if (!s) return spdlog::warn("MTU check with {}-byte frames: {}", bytes, s.error());
    result_.steps.push_back(std::move(*s));
  }
}

int ProbeRun::run() {
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
  auto admission = control::Admission::create(opt_.admission, tls_ != nullptr);
  if (!admission) {
    spdlog::error("{}", admission.error());
    return 2;
  }
  admission_.emplace(std::move(*admission));
  auto group = engine::parse_ipv4(opt_.group);
  if (!group || !engine::is_multicast(*group)) {
    spdlog::error("--group: '{}' is not an IPv4 multicast address", opt_.group);
    return 2;
  }
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
  tx_ = std::move(*tx);
  auto ifc =
      opt_.iface.empty() ? engine::iface_routing_to(*group) : engine::resolve_iface(opt_.iface);
  const uint32_t mtu = ifc ? ifc->mtu : 1500;
  max_frame_ = std::clamp<uint32_t>(
      mtu > 28 ? mtu - 28 : 0, engine::kHeaderSize + static_cast<uint32_t>(kProbePayloadMin),
      static_cast<uint32_t>(engine::kHeaderSize + engine::kMaxPayload));
  const uint32_t search_frame = engine::kHeaderSize + opt_.symbol_size;
  RAND_bytes(reinterpret_cast<unsigned char*>(&probe_id_), sizeof probe_id_);
  batch_.emplace(probe_id_, std::max({max_frame_, search_frame, kBeaconFrame}));

  auto loop = control::EventLoop::create();
  if (!loop) {
    spdlog::error("{}", loop.error());
    return 1;
  }
  loop_ = std::move(*loop);
  auto ep = control::parse_endpoint(opt_.listen);
  if (!ep) {
    spdlog::error("--listen: {}", ep.error());
    return 2;
  }
  auto listener =
      control::Listener::create(*loop_, *ep, admission_->max_connections(),
                                [this](Fd fd, const sockaddr_in& from, control::ConnectionSlot s) {
                                  on_accept(std::move(fd), from, std::move(s));
                                });
  if (!listener) {
    spdlog::error("{}", listener.error());
    return 2;
  }
  listener_ = std::move(*listener);
  result_.group = opt_.group + ":" + std::to_string(opt_.port);
  result_.iface = ifc ? ifc->name : opt_.iface;
  result_.transport = tx_.why;
  result_.ttl = opt_.ttl;
  result_.loss_threshold = opt_.loss_threshold;
  result_.headroom = opt_.headroom;
  result_.dwell_s = double(opt_.dwell_ns) / 1e9;
  result_.wire_overhead = engine::kWireOverhead;
  spdlog::info("probe of {} via {} ({}); waiting for {} receiver(s), up to {:.0f}s, on {}",
               result_.group, result_.iface, tx_.why, opt_.min_receivers,
               double(opt_.max_wait_ns) / 1e9, opt_.listen);

  const uint64_t join_deadline = t_start_ + opt_.max_wait_ns;
  auto admitted = [this] {
    return size_t(std::count_if(peers_.begin(), peers_.end(), [](const auto& kv) {
      return kv.second.state == PeerState::kAdmitted;
    }));
  };
  while (admitted() < opt_.min_receivers && monotonic_ns() < join_deadline) service(100);
  started_ = true;
  if (admitted() == 0) {
    spdlog::error(
        "no receiver joined within {:.0f}s: start `shoal recv --sender {}` with the same "
        "key on the receivers",
        double(opt_.max_wait_ns) / 1e9, opt_.listen);
    return 1;
  }
  ProbeStart start{probe_id_, ntohl(group->s_addr), opt_.port};
  for (auto& [id, p] : peers_) {
    if (p.state != PeerState::kAdmitted) continue;
    p.index = static_cast<int>(result_.receivers.size());
    ReceiverInfo r;
    r.name = p.hs->receiver_name();
    r.address = engine::ipv4_to_string(p.from.sin_addr);
    result_.receivers.push_back(r);
    p.conn->send(encode_probe(start));
  }
  beacon();
  if (opt_.realtime) {
    sched_param sp{};
    sp.sched_priority = 10;  // on-time wake-ups keep the pace (see sender.cc)
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
      spdlog::info("pacing at normal priority (real-time priority not permitted)");
  }
  search();
  if (opt_.unicast_check) compare_unicast();
  if (opt_.mtu_check) check_mtu();
  return finish();
}

int ProbeRun::finish() {
  result_.seconds = double(monotonic_ns() - t_start_) / 1e9;
  diagnose(result_);
  for (auto& [id, p] : peers_) {
    if (p.state == PeerState::kReady) p.conn->send(encode_probe(ProbeEnd{result_.verdict}));
    if (p.state != PeerState::kFailed) p.state = PeerState::kGone;  // closing is no failure now
    if (p.conn && p.conn->is_open()) p.conn->finish("probe over");
  }
  const uint64_t deadline = monotonic_ns() + 2'000'000'000;
  while (monotonic_ns() < deadline && std::any_of(peers_.begin(), peers_.end(), [](const auto& kv) {
           return kv.second.conn && kv.second.conn->is_open();
         })) {
    service(10);
  }
  print_table(result_, opt_.json_path == "-" ? stderr : stdout);
  bool ok = true;
  auto write = [&ok](const std::string& path, const std::string& text, const char* what) {
    if (path.empty()) return;
    std::ofstream f(path);
    f << text;
    if (!f) {
      spdlog::error("cannot write the {} to '{}'", what, path);
      ok = false;
    }
  };
  if (opt_.json_path == "-") {
    std::cout << to_json(result_).dump() << std::endl;
  } else {
    write(opt_.json_path, to_json(result_).dump(2) + "\n", "JSON result");
  }
  write(opt_.csv_path, to_csv(result_), "CSV table");
  write(opt_.plot_path, render_probe_svg(result_), "SVG plot");
  return ok && result_.recommended_bps > 0 ? 0 : 1;
}

}  // namespace

int run_probe(const ProbeOptions& options) {
  ProbeRun r(options);
  return r.run();
}

}  // namespace shoal::session
