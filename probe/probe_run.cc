// The data plane of `shoal probe`: beacons, paced steps and what each receiver reported of them.
#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "common/clock.h"
#include "common/units.h"
#include "engine/paced_sender.h"
#include "engine/pacer.h"
#include "engine/udp_unicast_tx.h"
#include "engine/wire.h"
#include "probe/probe_run.h"
#include "probe/probe_search.h"
#include "probe/probe_stats.h"

namespace shoal::probe {

namespace {
constexpr uint64_t kJoinedWaitNs = 5'000'000'000;  // receivers answer 3 s after Start at the latest
constexpr uint64_t kReportWaitNs = 3'000'000'000;
constexpr uint64_t kStallNs = 1'000'000'000;  // a transport that takes no frame this long failed
constexpr uint32_t kBeaconFrame = engine::kHeaderSize + 64;
constexpr uint32_t kMtuSmallFrame = 1400;
constexpr uint64_t kMtuFrames = 200;
constexpr uint64_t kMtuMaxRate = 50'000'000;
constexpr double kSenderSlack = 0.95;  // offered below this share of the target: sender-limited
constexpr unsigned kMaxRedos = 4;      // disturbed search steps repeated, in all
constexpr unsigned kRedosPerRate =
    2;  // ... and at one rate: a host busy twice in a row is no limit
}  // namespace

FrameBatch::FrameBatch(uint64_t probe_id, uint32_t max_frame)
    : probe_id_(probe_id),
      max_payload_(max_frame - engine::kHeaderSize),
      headers_(size_t{kProbeBurst} * engine::kHeaderSize),
      payloads_(size_t{kProbeBurst} * max_payload_, 0),
      frames_(kProbeBurst) {}

const engine::TxFrame* FrameBatch::build(uint32_t step, uint32_t first_seq, int n,
                                         uint32_t frame_bytes, ProbeFrameKind kind,
                                         uint64_t now_ns) {
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
  uint64_t burst = opt_.burst_bytes ? opt_.burst_bytes : engine::default_burst_bytes(plan.rate_bps);
  burst = std::max<uint64_t>(burst, 2 * uint64_t{charge});
  engine::Pacer pacer(plan.rate_bps, burst);
  const ProbeFrameKind kind = plan.kind == StepKind::kUnicast ? ProbeFrameKind::kUnicast
                              : plan.kind == StepKind::kMtuSmall || plan.kind == StepKind::kMtuLarge
                                  ? ProbeFrameKind::kMtu
                                  : ProbeFrameKind::kMulticast;
  engine::PacedSender::Options po;
  po.max_batch = kProbeBurst;
  po.stall_timeout_ns = kStallNs;
  po.what = "sending probe frames";
  engine::PacedSender sender(tx, pacer, engine::system_pace_hooks([this](int ms) { service(ms); }),
                             po);
  const uint64_t t0 = monotonic_ns();
  // Start with an empty bucket: a step offers its rate from the first frame, with no burst.
  pacer.consume(t0, pacer.budget(t0));
  Status st = sender.run(
      plan.max_frames ? plan.max_frames : engine::PacedSender::kUnlimited, plan.frame_bytes,
      [&](uint64_t first, int n, uint64_t now, std::string*) {
        return batch_->build(step, static_cast<uint32_t>(first), n, plan.frame_bytes, kind, now);
      },
      plan.max_frames ? engine::Pacer::kNever : t0 + plan.dwell_ns);
  out.frames_sent = sender.frames_sent();
  if (!st) return st;
  out.seconds = double(sender.stopped_ns() - t0) / 1e9;
  out.offered_bps = out.seconds > 0
                        ? static_cast<uint64_t>(double(out.frames_sent) * charge * 8 / out.seconds)
                        : 0;
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
  std::unique_ptr<engine::UdpUnicastTx> uni;
  ProbePeer* target = nullptr;
  if (plan.kind == StepKind::kUnicast) {
    target = peer_at(plan.unicast_to);
    if (!target || target->state != PeerState::kReady) return s;
    sockaddr_in to = target->from;
    to.sin_port = htons(result_.receivers[size_t(plan.unicast_to)].unicast_port);
    auto u = engine::UdpUnicastTx::open(to);
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
  unsigned redos = 0, redos_here = 0;
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
    // Each rate is repeated at most twice: a sender or receiver short at a rate three times in a
    // row is a limit, not a busy moment of the host.
    if (*rate != redone_rate) redos_here = 0;
    const bool redo = redos < kMaxRedos && redos_here < kRedosPerRate && disturbed(*s);
    spdlog::info("step {:2} {:6} {:>14} offered {:>14}: worst loss {:.4f}% {}", s->step, plan.phase,
                 format_rate(double(*rate)), format_rate(double(s->offered_bps)), worst * 100,
                 redo      ? "disturbed (sender short or receiver drops): repeating"
                 : s->pass ? "ok"
                           : "LOSS");
    if (redo) {
      ++redos;
      ++redos_here;
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

}  // namespace shoal::probe
