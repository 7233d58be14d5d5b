#include "session/receiver_control.h"

#include <algorithm>

#include "common/printable.h"
#include "fec/layout.h"

namespace shoal::session {

namespace {

// Time since `since`; 0 for a `since` in the future (the caller's clock never goes back, but a
// test's may be arbitrary).
uint64_t elapsed(uint64_t now_ns, uint64_t since_ns) {
  return now_ns > since_ns ? now_ns - since_ns : 0;
}

}  // namespace

void ReceiverControl::fail(std::string reason) {
  if (outcome_ == Outcome::kRunning) {
    outcome_ = Outcome::kFailed;
    reason_ = std::move(reason);
  }
  finished_ = true;
}

void ReceiverControl::on_session(const control::Session& s) {
  if (announced_ && s.session_id != announced_->session_id) {
    return fail("the sender runs another session than the one announced");
  }
  // The destination was chosen by the announced name: a session of another object (a forged
  // announcement copying a real session's id and sender) must not be written there.
  if (announced_ &&
      (s.object_name != announced_->object_name || s.object_size != announced_->object_size)) {
    return fail(
        "the sender's session describes '" + printable(s.object_name) + "' (" +
        std::to_string(s.object_size) + " bytes), but its announcement named '" +
        printable(announced_->object_name) + "' (" + std::to_string(announced_->object_size) +
        " bytes): refused, nothing written (a forged announcement, or the sender changed "
        "its object: check who sends announcements to the group; sign them with --key-file)");
  }
  // The block count must follow from the layout before anything is sized by it: a broken or
  // hostile sender could otherwise make this receiver reserve memory for 2^32 hashes.
  auto layout = fec::BlockLayout::make(s.object_size, s.symbol_size, s.k);
  if (!layout || layout->block_count() != s.block_count) {
    return fail("sender described an impossible session (" + std::to_string(s.block_count) +
                " blocks for " + std::to_string(s.object_size) + " bytes" +
                (layout ? "" : ": " + layout.error()) + ")");
  }
  if (session_) return fail("sender started a second session on one connection");
  session_ = s;
  hashes_ = 0;
}

ReceiverControl::Reaction ReceiverControl::on_message(const control::Message& m, uint64_t now_ns) {
  if (std::get_if<control::Probe>(&m)) {  // `shoal probe` (probe/probe_receiver.h)
    if (session_) {
      fail("the sender mixed a probe into a session");
      return {};
    }
    return ForwardProbe{};
  }
  if (const auto* s = std::get_if<control::Session>(&m)) {
    on_session(*s);
  } else if (const auto* mf = std::get_if<control::Manifest>(&m)) {
    if (!opened_ || object_sha256_ || mf->first_block != hashes_ || mf->block_hashes.empty() ||
        uint64_t{hashes_} + mf->block_hashes.size() > session_->block_count) {
      fail("sender sent a manifest out of order");
      return {};
    }
    hashes_ += static_cast<uint32_t>(mf->block_hashes.size());
    return TakeManifest{};
  } else if (const auto* me = std::get_if<control::ManifestEnd>(&m)) {
    if (!opened_ || object_sha256_ || hashes_ != session_->block_count) {
      fail("sender ended its manifest out of order (" + std::to_string(hashes_) + " of " +
           std::to_string(session_ ? session_->block_count : 0) + " block hashes)");
      return {};
    }
    object_sha256_ = me->object_sha256;
    return TakeManifestEnd{};
  } else if (const auto* g = std::get_if<control::KeyGrant>(&m)) {
    if (!session_ || opened_) {
      fail("sender sent the session key out of order");
      return {};
    }
    opened_ = true;
    return OpenSession{*session_, *g};
  } else if (const auto* pe = std::get_if<control::PassEnd>(&m)) {
    if (!opened_) {
      fail("sender ended a pass before the session was set up");
      return {};
    }
    if (!object_sha256_) {
      fail("sender ended a pass before its whole manifest (" + std::to_string(hashes_) + " of " +
           std::to_string(session_->block_count) + " block hashes)");
      return {};
    }
    pending_pass_ = pe->pass;
    pass_end_ns_ = now_ns;
  } else if (std::get_if<control::PeerAssign>(&m)) {
    if (!opened_ || !object_sha256_) {
      fail("sender assigned a peer before the session and its whole manifest");
      return {};
    }
    return FetchFromPeer{};
  } else if (std::get_if<control::Repair>(&m)) {
    if (opened_) return TakeRepair{};
  } else if (std::get_if<control::Horizon>(&m)) {
    if (opened_) return TakeHorizon{};
  } else if (const auto* bye = std::get_if<control::Bye>(&m)) {
    if (outcome_ == Outcome::kDone) {
      finished_ = true;  // the acknowledgement of Done
    } else {
      fail("sender ended the session: " +
           (bye->reason.empty() ? std::string("no reason given") : printable(bye->reason)));
    }
  } else {
    return Unexpected{};
  }
  return {};
}

void ReceiverControl::session_started(uint64_t now_ns) {
  start_ns_ = now_ns;
  awaiting_beacon_ = true;
}

std::optional<ReceiverControl::Action> ReceiverControl::next_action(const Tick& t) {
  if (!finished_ && outcome_ == Outcome::kDone && t.now_ns >= ack_deadline_ns_) {
    finished_ = true;  // committed: the missing acknowledgement is only worth a warning
    ack_missing_ = true;
  }
  if (finished_ || committing_ || outcome_ == Outcome::kDone) return std::nullopt;
  if (pending_pass_) {
    const bool quiet =
        elapsed(t.now_ns, std::max(t.last_datagram_ns, pass_end_ns_)) > kDrainQuietNs &&
        t.socket_empty;
    if (quiet || elapsed(t.now_ns, pass_end_ns_) > kDrainMaxNs) {
      const uint32_t pass = *pending_pass_;
      pending_pass_.reset();
      passes_ = pass + 1;
      if (!t.complete) return SendNak{pass};
      committing_ = true;
      return Commit{pass};
    }
  }
  if (awaiting_beacon_ && (t.beacon_nonce != 0 || beacon_wait_ns_ == 0 ||
                           elapsed(t.now_ns, start_ns_) > beacon_wait_ns_)) {
    awaiting_beacon_ = false;
    ready_sent_ = true;
    return SendReady{t.beacon_nonce};
  }
  if (ready_sent_ && !pending_pass_ && !t.complete && t.data_frames != progress_frames_ &&
      session_->progress_interval_ms != 0 &&
      elapsed(t.now_ns, progress_ns_) >= uint64_t{session_->progress_interval_ms} * 1'000'000) {
    progress_ns_ = t.now_ns;
    progress_frames_ = t.data_frames;
    return SendProgress{};
  }
  return std::nullopt;
}

void ReceiverControl::on_done_sent(const Status& result, uint64_t now_ns) {
  committing_ = false;
  done_sent_ = true;
  if (result.ok()) {
    if (outcome_ == Outcome::kRunning) outcome_ = Outcome::kDone;
    ack_deadline_ns_ = serve_after_done_ ? UINT64_MAX : now_ns + kDoneAckWaitNs;
  } else {
    fail(result.error());
  }
}

void ReceiverControl::on_connection_closed(const std::string& why) {
  if (outcome_ == Outcome::kDone) {
    ack_missing_ |= !finished_;  // closed without the Bye
    finished_ = true;
  } else {
    fail("lost the connection to the sender (" + why + ")");
  }
}

}  // namespace shoal::session
