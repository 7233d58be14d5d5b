// SenderCore and relays (sender_core.h, relay/relay.h): a relay's Relaying once its copy is
// verified, the receivers behind it it reports (Downstream), which count as the sender's own.
#include "common/printable.h"
#include "session/sender_core.h"

namespace shoal::session {

namespace {

using Level = action::Log::Level;

}  // namespace

// A relay's copy is verified: it takes no more data, answers no more passes, and the session
// waits for its Done, which comes when its own session ended.
void SenderCore::on_relaying(ReceiverRecord& r, const control::Relaying& m, uint64_t now_ns) {
  if (r.state != ReceiverState::kReady) {
    return fail(r, "protocol error: Relaying from a receiver that was not taking the object");
  }
  set_answered(r);
  r.done_ns = now_ns;
  r.frames_sent = frames_sent_;
  r.segment = printable(m.segment);
  set_state(r, ReceiverState::kRelaying);
  log(Level::kInfo, "receiver " + r.name + " verified the object and relays it" +
                        (r.segment.empty() ? std::string() : " into " + r.segment));
  emit("relaying", {{"receiver", r.name}, {"address", r.addr}, {"segment", r.segment}});
}

// One receiver behind a relay: it counts as the sender's own receivers do (summary, --hosts,
// exit status).
void SenderCore::on_downstream(ReceiverRecord& r, const control::Downstream& m) {
  if (r.state != ReceiverState::kRelaying) {
    return fail(r, "protocol error: Downstream from a receiver that is not relaying");
  }
  if (r.relayed.size() >= kMaxRelayedPerRelay) {
    return fail(r, "reported more than " + std::to_string(kMaxRelayedPerRelay) + " receivers");
  }
  RelayedReceiver d{printable(m.name), printable(m.address), m.ok, printable(m.reason), false};
  match_host_of(d.name, d.addr, "");
  if (!d.ok) {
    // It may have gone on from this sender (recv --sender RELAY,SENDER): that entry counts.
    for (const auto& [id, o] : receivers_) {
      d.superseded |= o.name == d.name && (o.active() || o.state == ReceiverState::kDone);
    }
    if (!d.superseded) relayed_failed_[d.name].emplace_back(r.id, r.relayed.size());
  }
  log(d.ok ? Level::kInfo : Level::kWarn,
      "receiver " + d.name + " (" + d.addr + ", through relay " + r.name + ") " +
          (d.ok ? std::string("verified the object") : "failed: " + d.reason));
  emit(d.ok ? "done" : "fail",
       {{"receiver", d.name}, {"address", d.addr}, {"via", r.name}, {"reason", d.reason}});
  r.relayed.push_back(std::move(d));
}

}  // namespace shoal::session
