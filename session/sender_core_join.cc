// SenderCore's join phase (sender_core.h): receivers joining (and joining again), the hosts
// --hosts expects, the start once enough joined or --max-wait ran out, each receiver's Ready (by
// multicast, or unicast when the beacon did not reach it) and its deadline, and --until's linger,
// where late joiners start new cycles.
#include <algorithm>
#include <cstdio>

#include "session/sender_core.h"

namespace shoal::session {

namespace {

using Level = action::Log::Level;

}  // namespace

void SenderCore::on_joined(uint32_t id, std::string name, std::string addr, std::string identity,
                           uint64_t now_ns) {
  auto [it, added] = receivers_.try_emplace(id);
  ReceiverRecord& r = it->second;
  joined_count_ += added;  // a new record starts kJoined
  r.id = id;
  r.name = std::move(name);
  r.addr = std::move(addr);
  r.identity = std::move(identity);
  r.joined_ns = now_ns;
  match_host(r);
  // A receiver that failed (say, was restarted) and joins again replaces its old entry. The
  // index may name ids that no longer fail under this name: dropped here.
  if (auto f = failed_by_name_.find(r.name); f != failed_by_name_.end()) {
    std::erase_if(f->second, [&](uint32_t oid) {
      if (oid == id) return false;
      ReceiverRecord* q = find(oid);
      if (q && q->state == ReceiverState::kFailed && q->name == r.name) {
        set_state(*q, ReceiverState::kSuperseded);
      }
      return true;
    });
    if (f->second.empty()) failed_by_name_.erase(f);
  }
  if (!added && r.state == ReceiverState::kFailed) failed_by_name_[r.name].push_back(id);
  // One a relay reported failed goes on from this sender: this entry stands for it now.
  if (auto f = relayed_failed_.find(r.name); f != relayed_failed_.end()) {
    for (const auto& [relay, row] : f->second) {
      if (ReceiverRecord* q = find(relay); q && row < q->relayed.size())
        q->relayed[row].superseded = true;
    }
    relayed_failed_.erase(f);
  }
  log(Level::kInfo, "receiver " + r.name + " joined from " + r.addr +
                        (started_ ? std::string(" (session running: it joins the next repair step)")
                                  : " (" + std::to_string(receivers_.size()) + " of " +
                                        std::to_string(cfg_.min_receivers) + " wanted)"));
  emit("join", {{"receiver", r.name}, {"address", r.addr}, {"late", started_}});
  if (cfg_.until_ns != 0 && now_ns >= cfg_.until_ns) {
    fail(r, "joined after --until closed the session to new receivers");
    return;
  }
  if (started_) {
    r.ready_by_ns = now_ns + cfg_.answer_timeout_ns;
    push(action::SendSession{id});
  }
}

void SenderCore::match_host(const ReceiverRecord& r) {
  match_host_of(r.name, r.addr, r.identity);
}

void SenderCore::match_host_of(const std::string& name, const std::string& addr,
                               const std::string& identity) {
  if (cfg_.hosts.empty()) return;
  host_joined_.resize(cfg_.hosts.size());
  // The address without its port ("198.18.0.101:40123", "[fd00::1]:40123").
  std::string ip = addr.substr(0, addr.rfind(':'));
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  for (size_t i = 0; i < cfg_.hosts.size(); ++i) {
    const std::string& h = cfg_.hosts[i];
    if (host_joined_[i] || !(h == name || h == ip || (!identity.empty() && h == identity)))
      continue;
    host_joined_[i] = true;
    ++hosts_joined_;
    return;
  }
}

std::vector<std::string> SenderCore::hosts_missing() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < cfg_.hosts.size(); ++i) {
    if (i >= host_joined_.size() || !host_joined_[i]) out.push_back(cfg_.hosts[i]);
  }
  return out;
}

void SenderCore::start(uint64_t now_ns) {
  started_ = true;
  const size_t admitted =
      size_t(std::count_if(receivers_.begin(), receivers_.end(), [](const auto& kv) {
        return kv.second.state != ReceiverState::kFailed;
      }));
  if (admitted == 0) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.0f", double(cfg_.max_wait_ns) / 1e9);
    log(Level::kError, std::string("no receiver joined within ") + secs +
                           "s: check that receivers use --sender " + cfg_.listen +
                           " with the same key, and that TCP port is reachable");
    emit("end", {{"ok", 0}, {"failed", 0}, {"passes", 0}});
    phase_ = Phase::kFinished;
    push(action::Finish{SendOutcome::kNobodyJoined});
    return;
  }
  for (const std::string& h : hosts_missing()) {
    log(Level::kWarn,
        "expected host " + h + " did not join within --max-wait: it counts as failed");
  }
  if (admitted < cfg_.min_receivers) {
    log(Level::kWarn, "--max-wait reached with " + std::to_string(admitted) + " of " +
                          std::to_string(cfg_.min_receivers) + " receivers: starting with those");
  }
  push(action::Begin{admitted});
  phase_ = Phase::kAwaitReady;
  ready_deadline_ns_ = now_ns + cfg_.answer_timeout_ns;
  for (auto& [id, r] : receivers_) {
    if (!r.active()) continue;
    r.ready_by_ns = ready_deadline_ns_;
    push(action::SendSession{id});
  }
}

// --until, everyone before is done: a late joiner that said Ready starts a new cycle (a pass over
// what the Ready ones lack), once no other joiner is still on its way to Ready (so joiners that
// come together share it). One that never says Ready fails on its own.
void SenderCore::linger(uint64_t now_ns) {
  bool ready = false, joining = false, active = false;
  for (auto& [id, r] : receivers_) {
    if (r.state == ReceiverState::kJoined && now_ns >= r.ready_by_ns)
      fail(r, "did not confirm it joined the multicast group");
    ready |= r.multicast() && r.state == ReceiverState::kReady;
    joining |= r.state == ReceiverState::kJoined;
    active |= r.active() || r.state == ReceiverState::kRelaying;
  }
  if (ready && !joining) {
    ++cycles_;
    cycle_first_pass_ = passes_;
    log(Level::kInfo,
        "a late receiver is ready: cycle " + std::to_string(cycles_ + 1) + " sends what it lacks");
    full_pass_planned_ = false;
    begin_passes(now_ns);
    return;
  }
  if (!active && !joinable(now_ns)) finish();
}

void SenderCore::on_ready(ReceiverRecord& r, const control::Ready& ready, uint64_t now_ns) {
  // A receiver Ready in the middle of a pass (a late joiner) lacks what went before: that pass
  // says nothing about its speed.
  r.first_full_pass = passes_ + (phase_ == Phase::kPassing ? 1 : 0);
  if (ready.beacon_echo != 0 && ready.beacon_echo == cfg_.beacon_nonce) {
    if (phase_ == Phase::kUnicastDrain) {
      // The multicast passes are over (it was slow to say Ready, and no --until cycle follows).
      return serve_by_unicast(r, "said Ready after the multicast passes ended");
    }
    set_state(r, ReceiverState::kReady);
    if (phase_ == Phase::kAwaitReady) heard_ready_ns_ = now_ns;
    return;
  }
  const std::string why =
      ready.beacon_echo == 0
          ? "did not hear the session's multicast beacon (group " + cfg_.group + ", TTL " +
                std::to_string(cfg_.ttl) +
                "): another subnet without multicast routing, a TTL too small, IGMP snooping "
                "without a querier, a firewall, or the wrong --iface on the receiver"
          : "echoed a beacon this session never sent";
  if (cfg_.scope_strict || ready.beacon_echo != 0) {
    fail(r, why + (cfg_.scope_strict ? " (--scope strict refuses it)" : ""));
    return;
  }
  serve_by_unicast(r, why);
}

void SenderCore::serve_by_unicast(ReceiverRecord& r, std::string why) {
  log(Level::kWarn, "receiver " + r.name + " (" + r.addr + ") " + why +
                        "; serving it the whole object by unicast");
  set_state(r, ReceiverState::kReady);
  r.unicast = true;
  r.reason = std::move(why);
  feed_lane(r, r.unicast_passes,
            feed_of(r.initial ? r.needs
                              : std::vector<NeedRun>{{0, static_cast<uint32_t>(cfg_.block_k.size()),
                                                      control::kMissingWholeBlock}}));
}

void SenderCore::fail_unconfirmed(uint64_t now_ns) {
  if (joined_count_ == 0) return;  // O(1) on every tick but while someone is on its way
  for (auto& [id, r] : receivers_) {
    if (r.state == ReceiverState::kJoined && r.ready_by_ns != 0 && now_ns >= r.ready_by_ns)
      fail(r, "did not confirm it joined the multicast group");
  }
}

}  // namespace shoal::session
