#include "session/sender_core.h"

#include <algorithm>

#include "common/printable.h"
#include "session/pass_schedule.h"

namespace shoal::session {

namespace {

using Level = action::Log::Level;

// Into `out`, reusing its capacity: a receiver answers every pass, its NAK about the same size.
std::vector<NeedRun> runs_of(const control::Nak& nak) {
  std::vector<NeedRun> out;
  assign_need_runs(out, nak.runs);
  return out;
}

bool unanswered(const ReceiverRecord& r) {
  return r.active() && r.asked && !r.answered;
}

// The receiver an action is addressed to, for actions that send it something.
std::optional<uint32_t> addressee(const SenderAction& a) {
  if (const auto* s = std::get_if<action::SendSession>(&a)) return s->id;
  if (const auto* s = std::get_if<action::SendPassEnd>(&a)) return s->id;
  if (const auto* s = std::get_if<action::SendHorizon>(&a)) return s->id;
  if (const auto* s = std::get_if<action::SendUnicastRepair>(&a)) return s->id;
  if (const auto* s = std::get_if<action::StartUnicastFeed>(&a)) return s->id;
  if (const auto* s = std::get_if<action::AssignPeer>(&a)) return s->id;
  if (const auto* s = std::get_if<action::AckDone>(&a)) return s->id;
  return std::nullopt;
}

}  // namespace

void assign_need_runs(std::vector<NeedRun>& out, std::span<const control::NakRun> runs) {
  out.clear();
  out.reserve(runs.size());
  for (const auto& r : runs) out.push_back({r.first_block, r.count, r.missing});
}

SenderCore::SenderCore(SenderConfig config, uint64_t start_ns)
    : cfg_(std::move(config)),
      start_ns_(start_ns),
      rows_(cfg_.block_k, cfg_.proactive),
      rate_bps_(cfg_.rate_bps) {
  planner_.unicast_budget_symbols = cfg_.unicast_budget_symbols;
  for (uint8_t k : cfg_.block_k) source_symbols_ += k;
  max_k_ = cfg_.block_k.empty() ? 0 : *std::max_element(cfg_.block_k.begin(), cfg_.block_k.end());
  for (size_t b = 0; b < cfg_.block_k.size(); ++b) {
    if (cfg_.block_k[b] < max_k_) short_blocks_.push_back(static_cast<uint32_t>(b));
  }
}

std::optional<SenderAction> SenderCore::next_action() {
  if (actions_.empty()) return std::nullopt;
  SenderAction a = std::move(actions_.front());
  actions_.pop_front();
  return a;
}

void SenderCore::log(Level level, std::string text) {
  push(action::Log{level, std::move(text)});
}

void SenderCore::emit(std::string name, nlohmann::json fields) {
  push(action::Emit{std::move(name), std::move(fields)});
}

ReceiverRecord* SenderCore::find(uint32_t id) {
  auto it = receivers_.find(id);
  return it == receivers_.end() ? nullptr : &it->second;
}

const ReceiverRecord* SenderCore::receiver(uint32_t id) const {
  auto it = receivers_.find(id);
  return it == receivers_.end() ? nullptr : &it->second;
}

size_t SenderCore::count_done() const {
  return size_t(std::count_if(receivers_.begin(), receivers_.end(), [](const auto& kv) {
    return kv.second.state == ReceiverState::kDone;
  }));
}

bool SenderCore::awaiting_ready() const {
  return joined_count_ > 0;
}

void SenderCore::set_state(ReceiverRecord& r, ReceiverState state) {
  const bool was_unanswered = unanswered(r);
  joined_count_ -= r.state == ReceiverState::kJoined;
  failed_count_ -= r.state == ReceiverState::kFailed;
  r.state = state;
  joined_count_ += r.state == ReceiverState::kJoined;
  failed_count_ += r.state == ReceiverState::kFailed;
  unanswered_count_ += size_t{unanswered(r)} - size_t{was_unanswered};
  if (state == ReceiverState::kFailed) failed_by_name_[r.name].push_back(r.id);
}

void SenderCore::set_asked(ReceiverRecord& r, bool asked, bool answered) {
  const bool was_unanswered = unanswered(r);
  r.asked = asked;
  r.answered = answered;
  unanswered_count_ += size_t{unanswered(r)} - size_t{was_unanswered};
}

void SenderCore::set_answered(ReceiverRecord& r) {
  set_asked(r, r.asked, true);
}

uint64_t SenderCore::next_deadline_ns() const {
  switch (phase_) {
    case Phase::kJoining:
      // --until and nobody yet: the wait lasts until then.
      if (joinable(start_ns_ + cfg_.max_wait_ns) && receivers_.size() == failed_count_)
        return cfg_.until_ns;
      return start_ns_ + cfg_.max_wait_ns;
    case Phase::kAwaitReady:
      return heard_ready_ns_ != 0 ? std::min(ready_deadline_ns_, heard_ready_ns_ + kReadyQuietNs)
                                  : ready_deadline_ns_;
    case Phase::kAwaitAnswers:
      return answer_deadline_ns_;
    case Phase::kLinger: {
      uint64_t next = cfg_.until_ns;
      for (const auto& [id, r] : receivers_) {
        if (r.state == ReceiverState::kJoined) next = std::min(next, r.ready_by_ns);
      }
      return next;
    }
    default:
      return 0;
  }
}

// Done and failed receivers stay as they are (a superseded one can still fail: its old
// connection may close after the new one joined).
void SenderCore::fail(ReceiverRecord& r, std::string reason) {
  if (r.state == ReceiverState::kDone || r.state == ReceiverState::kFailed) return;
  log(Level::kWarn, "receiver " + (r.name.empty() ? std::string("?") : r.name) + " (" + r.addr +
                        ") failed: " + reason);
  set_state(r, ReceiverState::kFailed);
  release_peer(r);
  release_lane(r);
  r.reason = std::move(reason);
  emit("fail", {{"receiver", r.name}, {"address", r.addr}, {"reason", r.reason}});
  std::erase_if(actions_, [&](const SenderAction& a) { return addressee(a) == r.id; });
  push(action::FailReceiver{r.id, r.reason});
  dispatch_lanes();  // its peer or sender lane goes to a lane that waits
}

void SenderCore::on_closed(uint32_t id, const std::string& why, uint64_t /*now_ns*/) {
  ReceiverRecord* r = find(id);
  if (!r) return;
  if (r->serving) stop_serving(*r, "its connection closed (" + why + ")");
  fail(*r, "connection lost: " + why);
}

void SenderCore::on_local_failure(uint32_t id, std::string reason, uint64_t /*now_ns*/) {
  if (ReceiverRecord* r = find(id)) fail(*r, std::move(reason));
}

void SenderCore::on_unicast_sent(uint32_t id, uint64_t symbols) {
  if (ReceiverRecord* r = find(id)) r->unicast_symbols += symbols;
}

void SenderCore::on_message(uint32_t id, const control::Message& m, uint64_t now_ns) {
  ReceiverRecord* r = find(id);
  if (!r) return;
  if (const auto* ready = std::get_if<control::Ready>(&m)) {
    if (r->state == ReceiverState::kJoined) on_ready(*r, *ready, now_ns);
  } else if (const auto* nak = std::get_if<control::Nak>(&m)) {
    if (needs_released(*r, nak->runs)) return;
    on_nak(*r, *nak);
  } else if (const auto* d = std::get_if<control::Done>(&m)) {
    on_done(*r, *d, now_ns);
  } else if (const auto* p = std::get_if<control::Progress>(&m)) {
    if (needs_released(*r, p->runs)) return;
    r->complete_below = std::max(r->complete_below, p->complete_below);
    if (r->served_by != 0) r->progress_ns = now_ns;
    on_progress(*r, *p);
    if (r->active()) push(action::SendHorizon{r->id});
  } else if (const auto* f = std::get_if<control::Fetch>(&m)) {
    on_fetch(*r, *f);
  } else if (const auto* rl = std::get_if<control::Relaying>(&m)) {
    on_relaying(*r, *rl, now_ns);
  } else if (const auto* ds = std::get_if<control::Downstream>(&m)) {
    on_downstream(*r, *ds);
  } else if (const auto* po = std::get_if<control::PeerOffer>(&m)) {
    on_peer_offer(*r, *po);
  } else if (const auto* pf = std::get_if<control::PeerFailed>(&m)) {
    on_peer_failed(*r, *pf);
  } else if (std::holds_alternative<control::Feedback>(m)) {
    // The driver's rate controller takes it.
  } else {
    fail(*r, std::string("protocol error: unexpected ") + control::type_name(m));
  }
}

void SenderCore::on_nak(ReceiverRecord& r, const control::Nak& nak) {
  if (r.unicast && nak.pass != control::kInitialPass) {
    // A unicast receiver lacks blocks after its stream (a block failed its hash, a peer went
    // away, or a peer's assignment held only part of it): again, while that helps.
    release_peer(r);
    const std::vector<NeedRun> needs = runs_of(nak);
    const uint64_t lacked = lacked_symbols(needs);
    r.lane_stalls = lacked < r.lacked_before ? 0 : r.lane_stalls + 1;
    r.lacked_before = lacked;
    ++r.unicast_passes;
    if (r.lane_stalls >= cfg_.max_passes) {
      fail(r, "still missing data after " + std::to_string(cfg_.max_passes) +
                  " unicast passes that did not shrink what it lacks");
    } else {
      feed_lane(r, r.unicast_pass_base + r.unicast_passes, feed_of(needs));
      dispatch_lanes();  // the peer it had may go to a lane that waits
    }
    return;
  }
  if (nak.pass == control::kInitialPass) {
    assign_need_runs(r.needs, nak.runs);
    r.initial = true;
    return;
  }
  if (!r.asked || nak.pass + 1 != passes_) return;  // an answer to an older pass
  assign_need_runs(r.needs, nak.runs);
  const uint64_t received =
      nak.frames_received - std::min(nak.frames_rejected, nak.frames_received);
  r.pass_frames_received = received - std::min(received, r.frames_received);
  r.pass_frames_sent = frames_sent_ - std::min(frames_sent_, r.frames_sent);
  r.frames_received = received;
  r.frames_sent = frames_sent_;
  set_answered(r);
}

// Blocks that failed verification from the group at this receiver, repeatedly: their source
// symbols over its own connection (an insider forging symbols reaches the group, not this).
// Each Fetch holds at most kMaxFetchBlocks, and the receiver keeps that many outstanding; one
// that asks for more than its connection takes fails alone (the connection's queue limit).
void SenderCore::on_fetch(ReceiverRecord& r, const control::Fetch& f) {
  if (r.state != ReceiverState::kReady) return;  // done meanwhile, or not started
  action::SendUnicastRepair u{r.id, {}};
  for (const uint32_t b : f.blocks) {
    if (b >= cfg_.block_k.size()) {
      fail(r, "protocol error: Fetch of block " + std::to_string(b) + " beyond the object");
      return;
    }
    if (const control::NakRun run{b, 1, 1}; needs_released(r, {&run, 1})) return;
    u.ranges.push_back({b, 0, cfg_.block_k[b]});
  }
  if (r.blocks_fetched == 0) {
    log(Level::kWarn, "receiver " + r.name +
                          " fetches blocks over its connection: they failed verification from "
                          "the group repeatedly (corrupt or forged symbols: an insider?)");
  }
  r.blocks_fetched += f.blocks.size();
  push(std::move(u));
}

void SenderCore::on_done(ReceiverRecord& r, const control::Done& d, uint64_t now_ns) {
  const bool relay = r.state == ReceiverState::kRelaying;
  release_peer(r);
  release_lane(r);
  r.done = d;
  set_answered(r);
  if (!relay) {  // a relay's copy was verified at its Relaying; this Done ends its segment
    r.done_ns = now_ns;
    r.frames_received = d.frames_received - std::min(d.frames_rejected, d.frames_received);
    r.frames_sent = frames_sent_;
  }
  if (d.ok) {
    set_state(r, ReceiverState::kDone);
    log(Level::kInfo, "receiver " + r.name +
                          (relay ? " (a relay): every receiver of its segment verified the object"
                                 : " verified the object"));
    emit("done", {{"receiver", r.name}, {"address", r.addr}});
    if (!r.peer_addr.empty() && !relay) {
      // It serves peers until the session ends (the driver's Bye then acknowledges it).
      start_serving(r);
    } else {
      // Acknowledged at once: the receiver may go while the session goes on for the others.
      push(action::AckDone{r.id});
    }
    dispatch_lanes();  // a new peer, a free sender lane: lanes that wait go on
  } else {
    fail(r, printable(d.reason));  // the receiver's words, logged
  }
}

void SenderCore::on_unicast_backlog(uint32_t id, size_t pending, uint64_t now_ns) {
  ReceiverRecord* r = find(id);
  if ((phase_ != Phase::kUnicastDrain && phase_ != Phase::kLinger) || !r || !r->unicast ||
      !r->active())
    return;
  if (r->lane_queued) return;  // it waits for a peer or a sender lane: the sender's doing
  if (r->served_by != 0) {     // a peer feeds it: its Progress reports show data moving
    if (r->progress_ns == 0) r->progress_ns = now_ns;
    if (now_ns - r->progress_ns > cfg_.answer_timeout_ns + control::kPeerStallNs) {
      fail(*r,
           "made no progress for " +
               std::to_string((cfg_.answer_timeout_ns + control::kPeerStallNs) / 1'000'000'000) +
               "s while a peer served it");
    }
    return;
  }
  if (pending != r->last_pending || r->progress_ns == 0) {
    r->last_pending = pending;
    r->progress_ns = now_ns;
  } else if (now_ns - r->progress_ns > cfg_.answer_timeout_ns) {
    fail(*r, "unicast stream stalled: the receiver took no data for " +
                 std::to_string(cfg_.answer_timeout_ns / 1'000'000'000) + "s");
  }
}

void SenderCore::on_tick(uint64_t now_ns) {
  // The whole-object pass is laid out while receivers open the session and answer Ready (one
  // range per block: millions for a large object), not after the last Ready.
  if (phase_ == Phase::kAwaitReady && !full_pass_planned_) plan_full_pass();
  // One decision can enable the next (everyone is Ready at once): step until nothing changes.
  for (;;) {
    const Phase before = phase_;
    step(now_ns);
    if (phase_ == before) break;
  }
}

void SenderCore::step(uint64_t now_ns) {
  switch (phase_) {
    case Phase::kJoining: {
      const size_t joined = receivers_.size() - failed_count_;
      // --until: with nobody yet, --max-wait does not end the wait (machines boot late).
      const bool waited =
          now_ns >= start_ns_ + cfg_.max_wait_ns && (joined > 0 || !joinable(now_ns));
      if ((joined >= cfg_.min_receivers && hosts_joined_ == cfg_.hosts.size()) || waited) {
        start(now_ns);
      }
      break;
    }
    case Phase::kAwaitReady:
      // Beacons go out (from the driver) until every receiver has heard one and said Ready; one
      // still on its way after kReadyQuietNs joins the pass under way.
      if (!awaiting_ready() || (heard_ready_ns_ != 0 && now_ns >= heard_ready_ns_ + kReadyQuietNs &&
                                now_ns < ready_deadline_ns_)) {
        begin_passes(now_ns);
      } else if (now_ns >= ready_deadline_ns_) {
        for (auto& [id, r] : receivers_) {
          if (r.state == ReceiverState::kJoined)
            fail(r, "did not confirm it joined the multicast group");
        }
        begin_passes(now_ns);
      }
      break;
    case Phase::kAwaitAnswers: {
      fail_unconfirmed(now_ns);
      if (unanswered_count_ == 0) {
        after_answers();
      } else if (now_ns >= answer_deadline_ns_) {
        for (auto& [id, r] : receivers_) {
          if (r.multicast() && !r.answered)
            fail(r, "stopped answering after pass " + std::to_string(passes_ - 1));
        }
        after_answers();
      }
      break;
    }
    case Phase::kUnicastDrain: {
      fail_unconfirmed(now_ns);
      release_idle_peers();
      bool streaming = false;
      // Receivers on their way to Ready (no --until: none is left for a next cycle) are waited
      // for: they are served by unicast once they say it.
      for (const auto& [id, r] : receivers_) {
        streaming |= (r.unicast && r.active()) || r.state == ReceiverState::kRelaying ||
                     (cfg_.until_ns == 0 && r.state == ReceiverState::kJoined);
      }
      if (streaming) break;
      if (joinable(now_ns)) {
        phase_ = Phase::kLinger;
        log(Level::kInfo,
            "every receiver so far is done; the session stays joinable for " +
                std::to_string((cfg_.until_ns - now_ns + 999'999'999) / 1'000'000'000) +
                "s more (--until)");
      } else {
        finish();
      }
      break;
    }
    case Phase::kLinger:
      release_idle_peers();
      linger(now_ns);
      break;
    case Phase::kPassing:
      fail_unconfirmed(now_ns);
      break;
    case Phase::kFinished:
      break;
  }
}

void SenderCore::plan_full_pass() {
  ranges_ = full_pass_ranges(rows_, cfg_.proactive);
  full_pass_planned_ = true;
}

void SenderCore::begin_passes(uint64_t now_ns) {
  // Passes: the whole object, then fresh repair rows for what is still missing.
  const auto blocks = static_cast<uint32_t>(cfg_.block_k.size());
  if (!full_pass_planned_) plan_full_pass();
  // Skip blocks that no receiver lacks (receivers resuming from an earlier run).
  std::vector<uint8_t> wanted(blocks, 0);
  bool all_reported = true;
  size_t multicast = 0;
  for (const auto& [id, r] : receivers_) {
    if (!r.multicast()) continue;
    ++multicast;
    all_reported &= r.initial;
    for (const auto& run : r.needs) {  // runs, a memset each: millions of blocks stay cheap
      const uint64_t first = std::min<uint64_t>(run.first_block, blocks);
      const uint64_t end = std::min<uint64_t>(uint64_t{run.first_block} + run.count, blocks);
      std::fill(wanted.begin() + static_cast<ptrdiff_t>(first),
                wanted.begin() + static_cast<ptrdiff_t>(end), uint8_t{1});
    }
  }
  // Nothing to skip when some receiver lacks every block (a first send): no pass over the ranges.
  if (all_reported && std::find(wanted.begin(), wanted.end(), uint8_t{0}) != wanted.end()) {
    std::erase_if(ranges_, [&](const RepairRange& rr) { return !wanted[rr.block]; });
    if (ranges_.size() < blocks && multicast > 0) {
      log(Level::kInfo, "receivers already hold " + std::to_string(blocks - ranges_.size()) +
                            " of " + std::to_string(blocks) +
                            " blocks: the first pass sends only the rest");
    }
  }
  if (!data_begun_) {  // the first cycle sets up the data plane; later ones reuse it
    push(action::BeginData{});
    data_begun_ = true;
    t_data_ = now_ns;
  }
  next_pass();
}

void SenderCore::next_pass() {
  const uint32_t n = passes_;
  const bool any = std::any_of(receivers_.begin(), receivers_.end(),
                               [](const auto& kv) { return kv.second.multicast(); });
  if (n - cycle_first_pass_ >= cfg_.max_passes || !any) {
    end_passes();
    return;
  }
  phase_ = Phase::kPassing;
  push(action::StartPass{n, std::move(ranges_)});  // the pass owns them now (no copy)
  ranges_.clear();
}

void SenderCore::on_pass_sent(const PassTotals& stats, uint64_t now_ns) {
  if (phase_ != Phase::kPassing) return;
  const uint32_t n = passes_;
  frames_sent_ += stats.frames;
  repair_frames_ += stats.repair_frames;
  if (stats.rate_bps != 0) rate_bps_ = stats.rate_bps;
  emit("pass", {{"pass", n},
                {"frames", stats.frames},
                {"repair_frames", stats.repair_frames},
                {"interleaved_repair_total", interleaved_symbols_}});
  for (const uint32_t id : progress_ids_) {  // reports on this pass: the NAKs supersede them
    if (ReceiverRecord* r = find(id)) r->progress_fresh = false;
  }
  progress_ids_.clear();
  // The unicast share of the last repair step follows the multicast share.
  for (size_t i = 0; i < plan_.unicast.size();) {
    const uint32_t id = plan_.unicast[i].receiver;
    action::SendUnicastRepair u{id, {}};
    for (; i < plan_.unicast.size() && plan_.unicast[i].receiver == id; ++i) {
      u.ranges.push_back(plan_.unicast[i].range);
    }
    const ReceiverRecord* r = receiver(id);
    if (r && r->active()) push(std::move(u));
  }
  passes_ = n + 1;
  for (auto& [id, r] : receivers_) {
    // A late joiner not Ready yet has no part in this pass: its initial NAK and Ready come first.
    if (!r.multicast() || r.state != ReceiverState::kReady) continue;
    set_asked(r, true, false);
    push(action::SendPassEnd{id, n, frames_sent_});
  }
  phase_ = Phase::kAwaitAnswers;
  answer_deadline_ns_ = now_ns + cfg_.answer_timeout_ns;
}

void SenderCore::on_pass_failed(const std::string& error, uint64_t /*now_ns*/) {
  if (phase_ != Phase::kPassing) return;
  log(Level::kError, error);
  for (auto& [id, r] : receivers_) fail(r, "sender stopped: " + error);
  end_passes();
}

void SenderCore::abort(const std::string& reason, uint64_t /*now_ns*/) {
  if (phase_ == Phase::kFinished) return;
  aborted_ = true;
  log(Level::kWarn, "aborting the session: " + reason);
  for (auto& [id, r] : receivers_) {
    if (r.state == ReceiverState::kDone || r.state == ReceiverState::kFailed ||
        r.state == ReceiverState::kSuperseded) {
      continue;
    }
    set_state(r, ReceiverState::kFailed);
    r.reason = "aborted: " + reason;
    emit("fail", {{"receiver", r.name}, {"address", r.addr}, {"reason", r.reason}});
    const uint32_t rid = r.id;  // (clang before 16 cannot capture a structured binding)
    std::erase_if(actions_, [rid](const SenderAction& a) { return addressee(a) == rid; });
    push(action::FailReceiver{r.id, r.reason, control::ByeCode::kAborted});
  }
  finish();
}

void SenderCore::after_answers() {
  if (passes_ > 0) classify_slow(passes_ - 1);
  std::vector<ReceiverNeeds>& needs = needs_;
  needs.clear();
  for (auto& [id, r] : receivers_) {
    if (!r.multicast() || r.state != ReceiverState::kReady) continue;  // not Ready: no needs yet
    if (stalled(r)) continue;
    needs.push_back({r.id, r.needs});
  }
  if (needs.empty()) {
    end_passes();
    return;
  }
  const uint32_t n = passes_ - 1;
  plan_ = plan_repair(needs, rows_, planner_, planner_scratch_);
  ranges_ = plan_.multicast;
  emit("repair", {{"pass", n},
                  {"receivers", needs.size()},
                  {"multicast_symbols", plan_.multicast_symbols},
                  {"unicast_symbols", plan_.unicast_symbols}});
  log(Level::kInfo, "pass " + std::to_string(n) + ": " + std::to_string(needs.size()) +
                        " receiver(s) still missing data; repair " +
                        std::to_string(plan_.multicast_symbols) + " multicast + " +
                        std::to_string(plan_.unicast_symbols) + " unicast symbols");
  next_pass();
}

// A receiver fails when repair stops helping it, not after a fixed number of passes: when what it
// lacks has not shrunk over kStallPasses answered passes in a row (--max-passes stays the cap).
bool SenderCore::stalled(ReceiverRecord& r) {
  if (!r.answered || r.needs.empty()) return false;  // no answer to this pass: nothing learnt
  const uint64_t lacked = lacked_symbols(r.needs);
  r.stalled_passes = lacked < r.lacked_before ? 0 : r.stalled_passes + 1;
  r.lacked_before = lacked;
  if (r.stalled_passes < kStallPasses) return false;
  fail(r, "made no progress in " + std::to_string(kStallPasses) + " repair passes: still lacks " +
              std::to_string(lacked) +
              " symbol(s) (multicast stopped reaching it, or its blocks keep failing "
              "verification; check its network path and its log)");
  return true;
}

void SenderCore::end_passes() {
  for (auto& [id, r] : receivers_) {
    if (!r.multicast()) continue;
    // Not Ready yet (a late joiner, or one the first pass did not wait for): --until's next
    // cycle serves it (linger); otherwise unicast, once it says Ready (kUnicastDrain).
    if (r.state == ReceiverState::kJoined) continue;
    uint64_t blocks = 0;
    for (const auto& run : r.needs) blocks += run.count;
    fail(r, "still missing " + std::to_string(blocks) + " block(s) after " +
                std::to_string(passes_) +
                " passes (heavy loss or a too slow receiver; try a lower --rate or more "
                "--max-passes)");
  }
  // Unicast receivers finish at the pace TCP gets to each; one that stops taking data fails alone.
  phase_ = Phase::kUnicastDrain;
}

void SenderCore::finish() {
  size_t ok = 0, failed = 0;
  for (const auto& [id, r] : receivers_) {
    if (r.state == ReceiverState::kSuperseded) continue;
    (r.state == ReceiverState::kDone ? ok : failed)++;
    for (const RelayedReceiver& d : r.relayed) {
      if (!d.superseded) (d.ok ? ok : failed)++;
    }
  }
  const std::vector<std::string> missing = hosts_missing();
  failed += missing.size();  // expected, never came: not delivered
  emit("end", {{"ok", ok},
               {"failed", failed},
               {"passes", passes_},
               {"hosts_missing", missing},
               {"aborted", aborted_}});
  phase_ = Phase::kFinished;
  push(action::Finish{aborted_         ? SendOutcome::kAborted
                      : source_failed_ ? SendOutcome::kError
                      : failed == 0    ? SendOutcome::kAllVerified
                                       : SendOutcome::kSomeFailed});
}

}  // namespace shoal::session
