#include "session/sender_driver.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "common/clock.h"
#include "common/units.h"
#include "control/endpoint.h"
#include "engine/paced_sender.h"
#include "engine/realtime.h"
#include "engine/wire.h"
#include "session/sender_report.h"

namespace shoal::session {

namespace {
// Often enough that Ready waits little for one (each receiver must hear one), rare enough to cost
// nothing: 200 frames of ~100 bytes a second, and only while a receiver is not Ready.
constexpr uint64_t kBeaconEveryNs = 5'000'000;
}  // namespace

void SenderDriver::on_joined(const control::JoinedPeer& j) {
  Peer& p = peers_[j.id];
  p.id = j.id;
  p.conn = j.conn;
  p.addr = j.addr;
  p.channel = j.channel;
  p.seal.emplace(j.channel, session_id_);
  core_->on_joined(j.id, j.name, j.addr, j.identity, monotonic_ns());
  drain();
}

void SenderDriver::on_closed(uint32_t id, const std::string& why) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  it->second.conn = nullptr;
  server_->release(id, why);
  core_->on_closed(id, why, monotonic_ns());
  drain();
}

void SenderDriver::on_message(uint32_t id, const control::Message& m) {
  if (const auto* fb = std::get_if<control::Feedback>(&m)) {
    // Else not asked for; after --slow-receiver wait set the rate, that rate wins.
    if (auto_rate_ && !rate_pinned_) auto_rate_->on_feedback(id, *fb, monotonic_ns());
    return;
  }
  core_->on_message(id, m, monotonic_ns());
  drain();
}

void SenderDriver::release(uint32_t id, const std::string& why) {
  auto it = peers_.find(id);
  if (it == peers_.end() || !it->second.conn) return;
  it->second.conn = nullptr;
  server_->release(id, why);
}

void SenderDriver::local_failure(uint32_t id, std::string reason) {
  core_->on_local_failure(id, std::move(reason), monotonic_ns());
  drain();
}

// Carries out the core's actions in order. Re-entered from an action (a failure reported while
// sending), it returns at once: the outer call takes the new actions.
void SenderDriver::drain() {
  if (draining_) return;
  draining_ = true;
  while (auto next = core_->next_action()) {
    SenderAction& a = *next;
    if (const auto* log = std::get_if<action::Log>(&a)) {
      using L = action::Log::Level;
      const auto level = log->level == L::kDebug  ? spdlog::level::debug
                         : log->level == L::kInfo ? spdlog::level::info
                         : log->level == L::kWarn ? spdlog::level::warn
                                                  : spdlog::level::err;
      spdlog::log(level, "{}", log->text);
    } else if (auto* e = std::get_if<action::Emit>(&a)) {
      opt_.events.emit(e->name.c_str(), std::move(e->fields));
    } else if (const auto* b = std::get_if<action::Begin>(&a)) {
      begin(b->receivers);
    } else if (std::holds_alternative<action::BeginData>(a)) {
      begin_data();
    } else if (const auto* s = std::get_if<action::SendSession>(&a)) {
      if (auto it = peers_.find(s->id); it != peers_.end()) send_session(it->second);
    } else if (auto* sp = std::get_if<action::StartPass>(&a)) {
      pending_pass_ = std::move(*sp);  // run from serve(), outside any callback
    } else if (const auto* u = std::get_if<action::SendUnicastRepair>(&a)) {
      send_unicast(u->id, u->ranges);
    } else if (const auto* h = std::get_if<action::SendHorizon>(&a)) {
      if (auto it = peers_.find(h->id); it != peers_.end() && it->second.conn)
        it->second.conn->send(horizon());
    } else if (const auto* pe = std::get_if<action::SendPassEnd>(&a)) {
      auto it = peers_.find(pe->id);
      if (it != peers_.end() && it->second.conn) {
        send_manifest(it->second, true);  // every hash before the pass's end
        if (it->second.conn) it->second.conn->send(horizon());
        if (it->second.conn) it->second.conn->send(control::PassEnd{pe->pass, pe->frames_sent});
      }
    } else if (auto* f = std::get_if<action::StartUnicastFeed>(&a)) {
      if (auto it = peers_.find(f->id); it != peers_.end()) {
        start_feed(it->second, std::move(f->items), f->pass);
      }
    } else if (auto* ap = std::get_if<action::AssignPeer>(&a)) {
      if (auto it = peers_.find(ap->id); it != peers_.end()) assign_peer(it->second, *ap);
    } else if (const auto* ack = std::get_if<action::AckDone>(&a)) {
      auto it = peers_.find(ack->id);
      if (it != peers_.end() && it->second.conn) {
        it->second.conn->send(control::Bye{control::ByeCode::kFinished, ""});
        release(ack->id, "verified");  // the receiver may go; its slot is free
      }
      if (auto_rate_) auto_rate_->forget(ack->id);  // it sends no more Feedback
    } else if (const auto* sr = std::get_if<action::SetRate>(&a)) {
      if (pacer_) {
        spdlog::info("--slow-receiver wait: multicast rate {} -> {}",
                     format_rate(double(pacer_->rate_bps())), format_rate(double(sr->bps)));
        pacer_->set_rate(sr->bps, monotonic_ns());
        rate_pinned_ = true;
      }
    } else if (const auto* fr = std::get_if<action::FailReceiver>(&a)) {
      auto it = peers_.find(fr->id);
      if (it != peers_.end() && it->second.conn) {
        it->second.conn->send(control::Bye{fr->code, fr->reason});
        release(fr->id, fr->reason);  // its slot is free for a receiver that joins again
      }
    } else if (const auto* fin = std::get_if<action::Finish>(&a)) {
      outcome_ = fin->outcome;
    }
  }
  draining_ = false;
}

// The session starts; the manifest follows each Session while the workers hash.
void SenderDriver::begin(size_t receivers) {
  session_msg_.progress_interval_ms = progress_interval_ms(receivers);
  opt_.events.emit("start", {{"object", session_msg_.object_name},
                             {"bytes", object_bytes().size()},
                             {"blocks", session_msg_.block_count},
                             {"session_id", session_hex(session_id_)},
                             {"receivers", receivers}});
}

void SenderDriver::begin_data() {
  const uint64_t burst =
      opt_.burst_bytes ? opt_.burst_bytes : engine::default_burst_bytes(opt_.rate_bps);
  pacer_.emplace(opt_.rate_bps, burst);
  if (auto_rate_) auto_rate_->attach(*pacer_, opt_.burst_bytes == 0);
  if (opt_.realtime) {
    // A pacer that wakes late loses rate: the bucket can only bank one burst (engine/realtime.h).
    if (Status rt = engine::request_realtime_priority(); !rt) {
      spdlog::info("pacing at normal priority ({}); the rate may undershoot on a busy host",
                   rt.error());
    }
  }
  pass_.emplace(
      *symbols_, *tx_, *pacer_, *builder_, opt_.window_blocks, [this](int ms) { service(ms); },
      [this](std::vector<RepairRange>& extra, bool quiet) {
        core_->take_interleaved_repair(pass_->sent_sequence(), extra, quiet);
      },
      [this](uint32_t block) { return published(block); });
}

void SenderDriver::run_pass(action::StartPass a) {
  if (core_->finished()) return;  // aborted before the pass began
  PassStats ps;
  const uint64_t t_pass = monotonic_ns();
  pass_stats_ = &ps;
  pass_frames_ = 0;
  for (const auto& r : a.ranges) pass_frames_ += r.count;
  if (!a.ranges.empty()) {
    // The first pass leaves out all-zero blocks: receivers fill them in from their hashes.
    if (!zero_blocks_) zero_blocks_.emplace(*layout_);
    DataPass::Skip zeros;
    if (a.pass == 0) {
      zeros = [this](uint32_t b) { return zero_blocks_->is_zero(b, manifest_->hashes(b, 1)[0]); };
    }
    Status s = pass_->run(a.ranges, ps, zeros);
    if (!s) {
      pass_stats_ = nullptr;
      // Receivers still in their handshake are dropped with the join server at exit.
      core_->on_pass_failed(s.error(), monotonic_ns());
      drain();
      return;
    }
  }
  pass_stats_ = nullptr;
  if (ps.skipped_blocks > 0) {
    zero_blocks_sent_as_hash_ += ps.skipped_blocks;
    spdlog::info(
        "pass {}: {} all-zero block(s) left out ({}): receivers fill them in from their hashes",
        a.pass, ps.skipped_blocks,
        format_bytes(double(ps.skipped_blocks) * double(layout_->block_bytes(0))));
  }
  if (core_->finished()) return;  // aborted during the pass
  {
    double secs = double(monotonic_ns() - t_pass) / 1e9;
    spdlog::debug("pass {}: {} frames ({} repair, {} interleaved) in {:.3f}s = {}", a.pass,
                  ps.frames, ps.repair_frames, ps.interleaved, secs,
                  format_rate(secs > 0 ? double(ps.frames) *
                                             double(layout_->symbol_size() + engine::kHeaderSize +
                                                    builder_->tag_len() + engine::kWireOverhead) *
                                             8 / secs
                                       : 0));
  }
  core_->on_pass_sent({ps.frames, ps.repair_frames, pacer_->rate_bps()}, monotonic_ns());
  drain();
  progress(a.pass == 0 ? "pass 0" : "repair", 1.0, true);
}

SendOutcome SenderDriver::serve() {
  for (;;) {
    core_->on_tick(monotonic_ns());
    drain();
    if (outcome_) return *outcome_;
    if (pending_pass_) {
      action::StartPass pass = std::move(*pending_pass_);
      pending_pass_.reset();
      run_pass(std::move(pass));
      continue;
    }
    if (announcer_ &&
        (core_->phase() == SenderCore::Phase::kJoining || core_->joinable(monotonic_ns()))) {
      announcer_->tick(monotonic_ns());  // --until: machines that boot late still hear it
    }
    service(poll_timeout_ms());
    if (core_->phase() == SenderCore::Phase::kUnicastDrain ||
        core_->phase() == SenderCore::Phase::kLinger) {
      // Unicast receivers finish at the pace TCP gets to each; one that stops taking data fails.
      const uint64_t now = monotonic_ns();
      for (auto& [id, p] : peers_) {
        if (p.conn) core_->on_unicast_backlog(id, p.conn->pending_output(), now);
      }
      drain();
    }
  }
}

int SenderDriver::poll_timeout_ms() const {
  switch (core_->phase()) {
    case SenderCore::Phase::kAwaitReady:
      return 5;  // beacons go out from housekeeping() while a receiver is not Ready
    case SenderCore::Phase::kUnicastDrain:
      return 50;
    case SenderCore::Phase::kJoining:
    case SenderCore::Phase::kAwaitAnswers: {
      const uint64_t now = monotonic_ns(), deadline = core_->next_deadline_ns();
      if (now >= deadline) return 0;
      return static_cast<int>(std::min<uint64_t>((deadline - now) / 1'000'000 + 1, 100));
    }
    default:
      return 10;
  }
}

void SenderDriver::service(int timeout_ms) {
  loop_->poll_once(timeout_ms);
  housekeeping();
  if (pass_stats_ && pass_frames_ > 0) {
    char what[32];
    std::snprintf(what, sizeof what, "pass %u", core_->passes());
    progress(what, double(pass_stats_->frames) / double(pass_frames_));
  }
}

void SenderDriver::send_beacon() {
  uint8_t frame[engine::kHeaderSize + engine::FrameBuilder::kBeaconPayload + engine::kFrameTagSize];
  const size_t len = builder_->beacon(beacon_nonce_, frame);
  if (len == 0) return;
  const engine::TxFrame f{frame, static_cast<uint16_t>(len), nullptr, 0, nullptr, 0};
  (void)tx_->tx_burst(&f, 1);  // a beacon lost is sent again 5 ms later
  last_beacon_ns_ = monotonic_ns();
}

void SenderDriver::on_stop_signal() {
  const int sig = stop_signals_->take();
  if (sig == 0 || stop_signal_ != 0) return;
  stop_signal_ = sig;
  stop_signals_->restore();  // a second Ctrl-C ends the program at once
  spdlog::warn("{}: aborting the session; receivers keep their partial data for a resume",
               stop_signal_name(sig));
  core_->abort(std::string("the sender was stopped (") + stop_signal_name(sig) + ")",
               monotonic_ns());
  if (pass_) pass_->stop();  // the running pass ends after its window
  drain();
}

// Timers of the control plane, run from service(): joins that take too long, beacons for
// receivers that have not confirmed the group yet, unicast streams.
void SenderDriver::housekeeping() {
  const uint64_t now = monotonic_ns();
  // Every 5 ms is plenty for timers of this grain, and keeps a large peer table off the data path.
  if (now - last_housekeeping_ns_ < 5'000'000) return;
  last_housekeeping_ns_ = now;
  if (metrics_) metrics_->expire(now);
  server_->expire(now);
  send_manifest_all();
  if (manifest_->failed() || pipe_) tend_pipe(now);
  for (auto& [id, p] : peers_) feed_unicast(p);
  if (core_->started() && core_->awaiting_ready() && now - last_beacon_ns_ >= kBeaconEveryNs) {
    send_beacon();
  }
}

void SenderDriver::tend_pipe(uint64_t now_ns) {
  if (manifest_->failed()) {
    if (pipe_failed_) return;
    pipe_failed_ = true;
    spdlog::error("{}", manifest_->error());
    core_->on_source_failed(manifest_->error(), now_ns);
    if (pass_) pass_->stop();  // the running pass ends after its window
    drain();
    return;
  }
  // Before the data phase nobody has anything, and no receiver at all would free every block.
  if (!core_->data_begun() || manifest_->complete()) return;
  const uint32_t frontier = core_->spool_frontier();
  pipe_->release_below(frontier < layout_->block_count() ? layout_->block_offset(frontier)
                                                         : layout_->object_size());
  core_->on_spool_released(frontier);
  core_->on_spool(pipe_->held_bytes(), opt_.spool_max, pipe_->full(), now_ns);
  drain();
}

void SenderDriver::progress(const char* what, double frac, bool final_line) {
  if (!opt_.progress) return;
  uint64_t now = monotonic_ns();
  if (!final_line && now - last_progress_ns_ < 250'000'000) return;
  last_progress_ns_ = now;
  const double frame_bits = double(layout_->symbol_size() + engine::kHeaderSize +
                                   builder_->tag_len() + engine::kWireOverhead) *
                            8;
  const uint64_t frames = core_->frames_sent() + (pass_stats_ ? pass_stats_->frames : 0);
  double secs = double(now - core_->data_start_ns()) / 1e9;
  double rate = secs > 0 ? double(frames) * frame_bits / secs : 0;
  double left = pass_stats_ && pass_frames_ > pass_stats_->frames
                    ? double(pass_frames_ - pass_stats_->frames)
                    : 0;
  double eta = double(opt_.rate_bps) > 0 ? left * frame_bits / double(opt_.rate_bps) : 0;
  std::fprintf(stderr, "\r  %-7s %5.1f%%  %s  ETA %4.1fs  receivers done %zu/%zu   ", what,
               frac * 100, format_rate(rate).c_str(), eta, core_->count_done(),
               core_->count_admitted());
  if (final_line) std::fprintf(stderr, "\n");
}

std::string SenderDriver::render_metrics() const {
  if (!core_) return {};
  MetricsSnapshot s;
  s.object_bytes = object_bytes().size();
  s.rate_bps = opt_.rate_bps;
  s.frames_sent = core_->frames_sent() + (pass_stats_ ? pass_stats_->frames : 0);
  s.repair_frames = core_->repair_frames() + (pass_stats_ ? pass_stats_->repair_frames : 0);
  s.passes = core_->passes();
  s.data_seconds =
      core_->data_start_ns() ? double(monotonic_ns() - core_->data_start_ns()) / 1e9 : 0.0;
  s.joining = server_->joining();
  return session::render_metrics(s, core_->receivers());
}

SendResult SenderDriver::finish(SendOutcome outcome) {
  SendResult result{outcome, {}, stop_signal_};
  for (const auto& [id, r] : core_->receivers()) {
    if (r.state == ReceiverState::kSuperseded) continue;
    const bool ok = r.state == ReceiverState::kDone;
    result.receivers.push_back({r.name, r.addr, ok, r.unicast, ok ? std::string() : r.reason, ""});
    for (const RelayedReceiver& d : r.relayed) {
      if (!d.superseded)
        result.receivers.push_back({d.name, d.addr, d.ok, false, d.reason, r.name});
    }
  }
  const std::vector<std::string> missing = core_->hosts_missing();
  for (const std::string& h : missing) {
    result.receivers.push_back({h, "", false, false, "expected (--hosts) but never joined", ""});
  }
  if (outcome == SendOutcome::kNobodyJoined) return result;
  for (auto& [id, p] : peers_) {
    if (!p.conn) continue;
    const ReceiverRecord* r = core_->receiver(id);
    if (r && r->state == ReceiverState::kDone) {
      p.conn->send(control::Bye{control::ByeCode::kFinished, ""});
    }
    release(id, "session over");
  }
  // Let the Byes go out.
  const uint64_t deadline = monotonic_ns() + 2'000'000'000;
  while (server_->closing() > 0 && monotonic_ns() < deadline) service(10);

  SendTotals t;
  t.object_name = session_msg_.object_name;
  t.object_bytes = object_bytes().size();
  t.session_id = session_id_;
  t.passes = core_->passes();
  t.frames_sent = core_->frames_sent();
  t.repair_frames = core_->repair_frames();
  t.interleaved_symbols = core_->interleaved_symbols();
  t.hosts_missing = missing;
  t.symbol_size = static_cast<uint32_t>(layout_->symbol_size());
  t.data_start_ns = core_->data_start_ns();
  t.first_frame_ns = first_frame_ns_;
  t.zero_blocks = zero_blocks_sent_as_hash_;
  t.start_ns = t_start_;
  if (manifest_->complete()) {
    t.object_sha256 = manifest_->object_sha256();
    t.hash_seconds = manifest_->hash_seconds();
  }
  if (pipe_) {
    t.spool_peak_bytes = pipe_->peak_bytes();
    t.spool_max_bytes = opt_.spool_max;
    spdlog::info("send -: the spool held at most {} of stdin at once (--spool-max {})",
                 format_bytes(double(*t.spool_peak_bytes)), format_bytes(double(opt_.spool_max)));
  }
  t.end_ns = monotonic_ns();
  t.stop_signal = stop_signal_;
  if (auto_rate_) {
    t.rate_auto = auto_rate_->summary();
    spdlog::info("{}", auto_rate_->describe_end());
  }
  const nlohmann::json j = summary_json(t, core_->receivers());
  // The table is for people: it goes to stderr when stdout carries the JSON.
  std::fputs(summary_table(t, core_->receivers()).c_str(), opt_.json_path == "-" ? stderr : stdout);
  std::fflush(stdout);
  if (!opt_.json_path.empty()) {
    if (opt_.json_path == "-") {
      std::cout << j.dump() << std::endl;
    } else {
      std::ofstream(opt_.json_path) << j.dump(2) << "\n";
    }
  }
  return result;
}

}  // namespace shoal::session
