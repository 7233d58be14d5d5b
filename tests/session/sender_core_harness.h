// SenderCore's test harness: a core with a fake clock, fabricated receiver messages and helpers
// that read the actions it queues (sender_core_test.cc, sender_core_spool_test.cc).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "session/sender_core.h"

namespace shoal::session::core_test {

constexpr uint64_t kNonce = 0xbeac0d;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kAnswerTimeout = 100 * kMs;
constexpr uint64_t kMaxWait = 1000 * kMs;
constexpr uint32_t kBlocks = 8;
constexpr uint8_t kK = 4;

inline SenderConfig config(uint32_t min_receivers) {
  SenderConfig c;
  c.min_receivers = min_receivers;
  c.max_wait_ns = kMaxWait;
  c.answer_timeout_ns = kAnswerTimeout;
  c.max_passes = 5;
  c.beacon_nonce = kNonce;
  c.group = "239.1.2.3";
  c.ttl = 1;
  c.listen = "0.0.0.0:9100";
  c.block_k.assign(kBlocks, kK);
  return c;
}

inline std::string name_of(uint32_t id) {
  return "rx" + std::to_string(id);
}

class Session {
 public:
  explicit Session(SenderConfig c) : core(std::move(c), 0) {}

  // Takes every queued action.
  std::vector<SenderAction> drain() {
    std::vector<SenderAction> out;
    while (auto a = core.next_action()) out.push_back(std::move(*a));
    return out;
  }
  void join(uint32_t id, uint64_t now) {
    core.on_joined(id, name_of(id), "10.0.0." + std::to_string(id) + ":5000", "", now);
  }
  void ready(uint32_t id, uint64_t now, uint64_t echo = kNonce) {
    core.on_message(id, control::Ready{echo}, now);
  }
  void done(uint32_t id, uint64_t now) {
    control::Done d;
    d.ok = true;
    d.frames_received = 32;
    core.on_message(id, d, now);
  }
  void nak(uint32_t id, uint32_t pass, std::vector<control::NakRun> runs, uint64_t now) {
    control::Nak n;
    n.pass = pass;
    n.runs = std::move(runs);
    core.on_message(id, n, now);
  }
  ReceiverState state(uint32_t id) const { return core.receiver(id)->state; }

  SenderCore core;
};

template <class T>
std::vector<T> all_of(const std::vector<SenderAction>& actions) {
  std::vector<T> out;
  for (const auto& a : actions) {
    if (const auto* t = std::get_if<T>(&a)) out.push_back(*t);
  }
  return out;
}

inline bool logged(const std::vector<SenderAction>& actions, const std::string& text) {
  for (const auto& l : all_of<action::Log>(actions)) {
    if (l.text.find(text) != std::string::npos) return true;
  }
  return false;
}

inline std::vector<std::string> event_names(const std::vector<SenderAction>& actions) {
  std::vector<std::string> out;
  for (const auto& e : all_of<action::Emit>(actions)) out.push_back(e.name);
  return out;
}

inline std::optional<SendOutcome> finished_with(const std::vector<SenderAction>& actions) {
  auto f = all_of<action::Finish>(actions);
  if (f.empty()) return std::nullopt;
  return f.back().outcome;
}

// "block:first_esi+count", for readable comparisons.
inline std::string str(const RepairRange& r) {
  return std::to_string(r.block) + ":" + std::to_string(r.first_esi) + "+" +
         std::to_string(r.count);
}

inline std::vector<std::string> strs(const std::vector<RepairRange>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(str(r));
  return out;
}

// Joins ids 1..n, starts, and has every one say Ready: the first pass is queued.
inline std::vector<SenderAction> start_session(Session& s, uint32_t n, uint64_t now = 10 * kMs) {
  for (uint32_t id = 1; id <= n; ++id) s.join(id, now);
  s.core.on_tick(now);
  for (uint32_t id = 1; id <= n; ++id) s.ready(id, now);
  s.core.on_tick(now);
  return s.drain();
}

// rx1 and rx2 join; rx1 says Ready having heard the beacon, rx2 without one (the multicast does
// not reach it): rx2's unicast lane starts.
inline void one_heard_one_beyond(Session& s) {
  s.join(1, kMs);
  s.join(2, kMs);
  s.core.on_tick(kMs);
  s.ready(1, 2 * kMs);
  s.ready(2, 2 * kMs, 0);
}

// Where receiver `id` serves peers (recv --serve-peers).
inline std::string peer_address(uint32_t id) {
  return "10.0.0." + std::to_string(id) + ":7000";
}

// rx3 lacks 26 of the 32 source symbols (81%): blocks 0-4 whole, 3 of block 5, 2 of 6, 1 of 7.
inline const std::vector<control::NakRun> kSlowNeeds = {
    {0, 5, control::kMissingWholeBlock}, {5, 1, 3}, {6, 1, 2}, {7, 1, 1}};

// Three receivers, pass 0 sent: rx1 Done, rx2 lacks one symbol of block 5, rx3 lacks 81%. The
// `offering` ones offer to serve peers (control::PeerOffer) before they answer.
inline std::vector<SenderAction> slow_after_pass0(Session& s, uint64_t rx3_frames = 0,
                                                  const std::vector<uint32_t>& offering = {}) {
  start_session(s, 3);
  s.core.on_pass_sent({32, 0, 0}, 20 * kMs);
  s.drain();
  for (const uint32_t id : offering)
    s.core.on_message(id, control::PeerOffer{peer_address(id)}, 21 * kMs);
  s.done(1, 21 * kMs);
  s.nak(2, 0, {{5, 1, 1}}, 21 * kMs);
  control::Nak n;
  n.pass = 0;
  n.runs = kSlowNeeds;
  n.frames_received = rx3_frames;
  s.core.on_message(3, n, 21 * kMs);
  s.core.on_tick(21 * kMs);
  return s.drain();
}

}  // namespace shoal::session::core_test
