// ReceiverControl: the receiver's session logic without I/O. Each test feeds messages and ticks
// with a made-up clock and checks the actions, the outcome and the reason (the texts the e2e
// tests and people read).
#include "session/receiver_control.h"

#include <gtest/gtest.h>

namespace shoal::session {
namespace {

using Control = ReceiverControl;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kT0 = 1'000'000'000'000;  // an arbitrary start on the monotonic clock

control::Session session(uint32_t blocks = 3) {
  control::Session s;
  s.session_id = 0xabc;
  s.symbol_size = 1024;
  s.k = 4;
  s.object_size = uint64_t{blocks} * 4 * 1024;
  s.block_count = blocks;
  s.progress_interval_ms = 25;
  return s;
}

control::Manifest manifest(uint32_t first, uint32_t count) {
  control::Manifest m;
  m.first_block = first;
  for (uint32_t i = 0; i < count; ++i) {
    control::Digest d{};
    d[0] = static_cast<uint8_t>(first + i);
    m.block_hashes.push_back(d);
  }
  return m;
}

void expect_failed(const Control& c, const std::string& text) {
  EXPECT_TRUE(c.finished());
  EXPECT_EQ(c.outcome(), Control::Outcome::kFailed);
  EXPECT_NE(c.reason().find(text), std::string::npos) << c.reason();
}

control::ManifestEnd manifest_end() {
  control::ManifestEnd e;
  e.object_sha256[0] = 0x5a;
  return e;
}

// Session, KeyGrant (the OpenSession reaction, with everything in it), then the manifest in two
// chunks and its end, each handed to the driver.
Control::OpenSession open(Control& c, uint32_t blocks = 3) {
  EXPECT_TRUE(std::holds_alternative<std::monostate>(c.on_message(session(blocks), kT0)));
  control::KeyGrant g;
  g.iv[0] = 7;
  auto r = c.on_message(g, kT0);
  EXPECT_TRUE(std::holds_alternative<Control::OpenSession>(r));
  EXPECT_TRUE(std::holds_alternative<Control::TakeManifest>(c.on_message(manifest(0, 2), kT0)));
  EXPECT_TRUE(
      std::holds_alternative<Control::TakeManifest>(c.on_message(manifest(2, blocks - 2), kT0)));
  EXPECT_FALSE(c.object_sha256().has_value()) << "known only at the manifest's end";
  EXPECT_TRUE(std::holds_alternative<Control::TakeManifestEnd>(c.on_message(manifest_end(), kT0)));
  EXPECT_FALSE(c.finished());
  if (!std::holds_alternative<Control::OpenSession>(r)) return {};
  return std::get<Control::OpenSession>(std::move(r));
}

Control::Tick at(uint64_t now, bool complete = false, uint64_t beacon = 0) {
  Control::Tick t;
  t.now_ns = now;
  t.complete = complete;
  t.beacon_nonce = beacon;
  return t;
}

// An opened session that has said Ready (after a beacon) at kT0.
void ready(Control& c) {
  open(c);
  c.session_started(kT0);
  auto a = c.next_action(at(kT0, false, 42));
  ASSERT_TRUE(a && std::holds_alternative<Control::SendReady>(*a));
}

TEST(ReceiverControl, AGoodSequenceOpensTheSessionOnce) {
  Control c;
  const Control::OpenSession o = open(c);
  EXPECT_EQ(o.session, session());
  EXPECT_EQ(o.grant.iv[0], 7);
  ASSERT_TRUE(c.object_sha256().has_value());
  EXPECT_EQ((*c.object_sha256())[0], 0x5a);
  EXPECT_TRUE(c.has_session());
  // A second KeyGrant does not open it again.
  EXPECT_TRUE(std::holds_alternative<std::monostate>(c.on_message(control::KeyGrant{}, kT0)));
  expect_failed(c, "sender sent the session key out of order");
}

// What an announcement named: session 0xabc of "img" (session() describes 3 x 4 x 1024 bytes).
AnnouncedSession announced(uint64_t id = 0xabc, std::string name = "img",
                           uint64_t size = 3 * 4 * 1024) {
  return {id, std::move(name), size};
}

control::Session session_of(std::string name) {
  control::Session s = session();
  s.object_name = std::move(name);
  return s;
}

TEST(ReceiverControl, TheAnnouncedSessionIsTheOnlyOneTaken) {
  Control c(announced());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(c.on_message(session_of("img"), kT0)));
  EXPECT_FALSE(c.finished());
  Control other(announced(0xdef));
  other.on_message(session_of("img"), kT0);
  expect_failed(other, "the sender runs another session than the one announced");
}

// Issue #15 item 1: a forged announcement copies a real session's id and sender under another
// name (the daemon maps that name to another destination): the Session's object must match.
TEST(ReceiverControl, ASessionOfAnotherObjectThanAnnouncedIsRefused) {
  Control renamed(announced(0xabc, "boot-disk"));
  renamed.on_message(session_of("img"), kT0);
  expect_failed(renamed, "describes 'img' (12288 bytes), but its announcement named 'boot-disk'");
  EXPECT_FALSE(renamed.has_session());
  Control resized(announced(0xabc, "img", 999));
  resized.on_message(session_of("img"), kT0);
  expect_failed(resized, "its announcement named 'img' (999 bytes)");
}

TEST(ReceiverControl, AnImpossibleSessionIsRefusedBeforeAnythingIsSized) {
  Control c;
  control::Session s = session();
  s.block_count = 0xFFFFFFFF;
  c.on_message(s, kT0);
  expect_failed(c, "sender described an impossible session (4294967295 blocks for 12288 bytes)");
  EXPECT_FALSE(c.has_session());
  Control zero;
  s = session();
  s.k = 0;
  zero.on_message(s, kT0);
  expect_failed(zero, "sender described an impossible session (3 blocks for 12288 bytes: ");
}

TEST(ReceiverControl, ASecondSessionOnOneConnectionFails) {
  Control c;
  c.on_message(session(), kT0);
  EXPECT_FALSE(c.finished());
  c.on_message(session(), kT0);
  expect_failed(c, "sender started a second session on one connection");
}

// Session and KeyGrant opened, nothing of the manifest yet.
void opened(Control& c) {
  c.on_message(session(), kT0);
  ASSERT_TRUE(std::holds_alternative<Control::OpenSession>(c.on_message(control::KeyGrant{}, kT0)));
}

TEST(ReceiverControl, AManifestOutOfOrderFails) {
  Control before;  // before the Session
  before.on_message(manifest(0, 1), kT0);
  expect_failed(before, "sender sent a manifest out of order");
  Control unkeyed;  // before the KeyGrant
  unkeyed.on_message(session(), kT0);
  unkeyed.on_message(manifest(0, 1), kT0);
  expect_failed(unkeyed, "sender sent a manifest out of order");
  Control gap;  // a chunk skipped
  opened(gap);
  gap.on_message(manifest(1, 1), kT0);
  expect_failed(gap, "sender sent a manifest out of order");
  Control extra;  // more hashes than blocks
  opened(extra);
  extra.on_message(manifest(0, 4), kT0);
  expect_failed(extra, "sender sent a manifest out of order");
  Control empty;  // a message of no hashes
  opened(empty);
  empty.on_message(manifest(0, 0), kT0);
  expect_failed(empty, "sender sent a manifest out of order");
  Control after;  // past its end
  opened(after);
  after.on_message(manifest(0, 3), kT0);
  after.on_message(manifest_end(), kT0);
  EXPECT_FALSE(after.finished());
  after.on_message(manifest(3, 0), kT0);
  expect_failed(after, "sender sent a manifest out of order");
}

TEST(ReceiverControl, AManifestEndBeforeEveryHashFails) {
  Control c;
  opened(c);
  c.on_message(manifest(0, 2), kT0);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(c.on_message(manifest_end(), kT0)));
  expect_failed(c, "sender ended its manifest out of order (2 of 3 block hashes)");
  EXPECT_FALSE(c.object_sha256().has_value());
}

TEST(ReceiverControl, TheKeyOutOfOrderFails) {
  Control before;  // before the Session
  before.on_message(control::KeyGrant{}, kT0);
  expect_failed(before, "sender sent the session key out of order");
}

TEST(ReceiverControl, APassEndBeforeTheSessionFails) {
  Control c;
  c.on_message(session(), kT0);
  c.on_message(control::PassEnd{0, 100}, kT0);
  expect_failed(c, "sender ended a pass before the session was set up");
}

// The sender sends every hash and the ManifestEnd before any PassEnd: a pass cannot be answered
// (nor the object committed) without them.
TEST(ReceiverControl, APassEndBeforeTheWholeManifestFails) {
  Control c;
  opened(c);
  c.on_message(manifest(0, 3), kT0);
  c.on_message(control::PassEnd{0, 100}, kT0);
  expect_failed(c, "sender ended a pass before its whole manifest (3 of 3 block hashes)");
}

TEST(ReceiverControl, TheFirstReasonWins) {
  Control c;
  c.on_message(control::PassEnd{}, kT0);
  c.on_message(control::KeyGrant{}, kT0);
  expect_failed(c, "sender ended a pass before the session was set up");
}

TEST(ReceiverControl, AProbeIsForwardedUnlessASessionRuns) {
  Control probe;
  EXPECT_TRUE(
      std::holds_alternative<Control::ForwardProbe>(probe.on_message(control::Probe{}, kT0)));
  EXPECT_FALSE(probe.finished());
  probe.finish();
  EXPECT_TRUE(probe.finished());
  EXPECT_EQ(probe.outcome(), Control::Outcome::kRunning);  // the probe reports for itself
  Control mixed;
  mixed.on_message(session(), kT0);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(mixed.on_message(control::Probe{}, kT0)));
  expect_failed(mixed, "the sender mixed a probe into a session");
}

TEST(ReceiverControl, RepairIsTakenOnlyOnceTheSessionIsOpen) {
  Control c;
  EXPECT_TRUE(std::holds_alternative<std::monostate>(c.on_message(control::Repair{}, kT0)));
  open(c);
  EXPECT_TRUE(std::holds_alternative<Control::TakeRepair>(c.on_message(control::Repair{}, kT0)));
  EXPECT_TRUE(std::holds_alternative<Control::Unexpected>(c.on_message(control::Hello{}, kT0)));
  EXPECT_FALSE(c.finished());
}

TEST(ReceiverControl, AHorizonIsTakenOnlyOnceTheSessionIsOpen) {
  Control c;
  EXPECT_TRUE(std::holds_alternative<std::monostate>(c.on_message(control::Horizon{9}, kT0)));
  open(c);
  EXPECT_TRUE(std::holds_alternative<Control::TakeHorizon>(c.on_message(control::Horizon{9}, kT0)));
  EXPECT_FALSE(c.finished());
}

TEST(ReceiverControl, ReadyFollowsTheBeacon) {
  Control c;
  open(c);
  EXPECT_FALSE(c.next_action(at(kT0 + kBeaconWaitNs * 2)));  // not started: no Ready
  c.session_started(kT0);
  EXPECT_FALSE(c.next_action(at(kT0 + 100 * kMs)));  // nothing heard yet
  auto a = c.next_action(at(kT0 + 200 * kMs, false, 0x1234));
  ASSERT_TRUE(a && std::holds_alternative<Control::SendReady>(*a));
  EXPECT_EQ(std::get<Control::SendReady>(*a).beacon_echo, 0x1234u);
  EXPECT_FALSE(c.next_action(at(kT0 + 300 * kMs, false, 0x1234)));  // once
}

TEST(ReceiverControl, ReadyWithoutABeaconAfterTheWait) {
  Control c;
  open(c);
  c.session_started(kT0);
  EXPECT_FALSE(c.next_action(at(kT0 + kBeaconWaitNs)));
  auto a = c.next_action(at(kT0 + kBeaconWaitNs + 1));
  ASSERT_TRUE(a && std::holds_alternative<Control::SendReady>(*a));
  EXPECT_EQ(std::get<Control::SendReady>(*a).beacon_echo, 0u);
  EXPECT_FALSE(c.next_action(at(kT0 + 2 * kBeaconWaitNs)));
}

// relay --from-unicast: the multicast cannot reach it, so Ready goes at once, with no echo.
TEST(ReceiverControl, ReadyAtOnceWithoutTheBeaconWait) {
  Control c;
  c.set_beacon_wait(0);
  open(c);
  EXPECT_FALSE(c.next_action(at(kT0)));  // not started: no Ready
  c.session_started(kT0);
  auto a = c.next_action(at(kT0));
  ASSERT_TRUE(a && std::holds_alternative<Control::SendReady>(*a));
  EXPECT_EQ(std::get<Control::SendReady>(*a).beacon_echo, 0u);
  EXPECT_FALSE(c.next_action(at(kT0 + 1)));  // once
}

TEST(ReceiverControl, APassEndIsAnsweredOnceTheSocketIsQuietAndEmpty) {
  Control c;
  ready(c);
  const uint64_t end = kT0 + 1000 * kMs;
  c.on_message(control::PassEnd{0, 100}, end);
  EXPECT_TRUE(c.draining());
  Control::Tick t = at(end + kDrainQuietNs + 1);
  t.last_datagram_ns = end + 5 * kMs;  // data still came after the PassEnd
  EXPECT_FALSE(c.next_action(t));
  t.now_ns = end + 5 * kMs + kDrainQuietNs + 1;  // quiet long enough, but datagrams queued
  t.socket_empty = false;
  EXPECT_FALSE(c.next_action(t));
  t.socket_empty = true;
  auto a = c.next_action(t);
  ASSERT_TRUE(a && std::holds_alternative<Control::SendNak>(*a));
  EXPECT_EQ(std::get<Control::SendNak>(*a).pass, 0u);
  EXPECT_FALSE(c.draining());
  EXPECT_EQ(c.passes(), 1u);
  EXPECT_FALSE(c.next_action(t));  // answered once
}

TEST(ReceiverControl, ProgressIsDueWhileNewDataFlowsAtMostOncePerInterval) {
  Control c;
  open(c);  // the session asks for one every 25 ms
  const uint64_t kProgressIntervalNs = 25 * kMs;
  c.session_started(kT0);
  auto data = [](uint64_t now, uint64_t frames, bool complete = false) {
    Control::Tick t = at(now, complete);
    t.data_frames = frames;
    return t;
  };
  EXPECT_FALSE(c.next_action(data(kT0 + kMs, 10))) << "not before Ready";
  auto a = c.next_action(at(kT0 + kMs, false, 42));
  ASSERT_TRUE(a && std::holds_alternative<Control::SendReady>(*a));
  uint64_t t = kT0 + kProgressIntervalNs;
  a = c.next_action(data(t, 500));
  ASSERT_TRUE(a && std::holds_alternative<Control::SendProgress>(*a));
  EXPECT_FALSE(c.next_action(data(t + kProgressIntervalNs - 1, 900))) << "within the interval";
  t += kProgressIntervalNs;
  EXPECT_FALSE(c.next_action(data(t, 500))) << "no new data frames";
  a = c.next_action(data(t, 501));
  ASSERT_TRUE(a && std::holds_alternative<Control::SendProgress>(*a));
  t += kProgressIntervalNs;
  EXPECT_FALSE(c.next_action(data(t, 600, true))) << "nothing lacks";
  c.on_message(control::PassEnd{0, 600}, t);
  EXPECT_FALSE(c.next_action(data(t + kMs, 700))) << "a pass end is answered by the NAK";
}

TEST(ReceiverControl, NoProgressWhenTheSessionAsksForNone) {
  Control c;
  control::Session s = session();
  s.progress_interval_ms = 0;
  c.on_message(s, kT0);
  ASSERT_TRUE(std::holds_alternative<Control::OpenSession>(c.on_message(control::KeyGrant{}, kT0)));
  c.on_message(manifest(0, 3), kT0);
  c.on_message(manifest_end(), kT0);
  c.session_started(kT0);
  auto a = c.next_action(at(kT0 + kMs, false, 42));
  ASSERT_TRUE(a && std::holds_alternative<Control::SendReady>(*a));
  Control::Tick t = at(kT0 + 1000 * kMs);
  t.data_frames = 500;
  EXPECT_FALSE(c.next_action(t));
}

TEST(ReceiverControl, APassEndIsAnsweredAtTheLatestAfterTheMaxDrainTime) {
  Control c;
  ready(c);
  const uint64_t end = kT0 + 1000 * kMs;
  c.on_message(control::PassEnd{4, 100}, end);
  Control::Tick t = at(end + kDrainMaxNs);
  t.socket_empty = false;  // the socket never drains
  t.last_datagram_ns = t.now_ns;
  EXPECT_FALSE(c.next_action(t));
  t.now_ns = end + kDrainMaxNs + 1;
  t.last_datagram_ns = t.now_ns;
  auto a = c.next_action(t);
  ASSERT_TRUE(a && std::holds_alternative<Control::SendNak>(*a));
  EXPECT_EQ(std::get<Control::SendNak>(*a).pass, 4u);
  EXPECT_EQ(c.passes(), 5u);
}

// Commits at kT0 + kMs + kDrainQuietNs + 1 and sends Done at `done_at`.
void commit_and_send_done(Control& c, uint64_t done_at) {
  ready(c);
  c.on_message(control::PassEnd{1, 100}, kT0 + kMs);
  auto a = c.next_action(at(kT0 + kMs + kDrainQuietNs + 1, true));
  ASSERT_TRUE(a && std::holds_alternative<Control::Commit>(*a));
  EXPECT_EQ(std::get<Control::Commit>(*a).pass, 1u);
  EXPECT_FALSE(c.next_action(at(kT0 + kDrainMaxNs * 2, true)));  // waits for the commit
  EXPECT_FALSE(c.finished());
  c.on_done_sent(Status{}, done_at);
  EXPECT_TRUE(c.done_sent());
  EXPECT_EQ(c.outcome(), Control::Outcome::kDone);
  EXPECT_TRUE(c.reason().empty());
}

// Changed with issue #13: Done no longer ends the session by itself; the sender's Bye does.
TEST(ReceiverControl, ACompleteObjectIsCommittedAndTheByeAfterDoneEndsTheSession) {
  Control c;
  const uint64_t done_at = kT0 + kDrainMaxNs * 3;
  commit_and_send_done(c, done_at);
  EXPECT_FALSE(c.finished());  // the acknowledgement is awaited
  EXPECT_FALSE(c.next_action(at(done_at + kMs, true)));
  EXPECT_FALSE(c.finished());
  c.on_message(control::Bye{control::ByeCode::kFinished, ""}, done_at + 2 * kMs);
  EXPECT_TRUE(c.finished());
  EXPECT_FALSE(c.ack_missing());
  // A hang-up after the Bye changes nothing.
  c.on_connection_closed("closed by peer");
  EXPECT_EQ(c.outcome(), Control::Outcome::kDone);
  EXPECT_FALSE(c.ack_missing());
}

TEST(ReceiverControl, DoneWithoutAByeFinishesAtTheEndOfTheWait) {
  Control c;
  const uint64_t done_at = kT0 + kDrainMaxNs * 3;
  commit_and_send_done(c, done_at);
  EXPECT_FALSE(c.next_action(at(done_at + kDoneAckWaitNs - 1, true)));
  EXPECT_FALSE(c.finished());
  EXPECT_FALSE(c.next_action(at(done_at + kDoneAckWaitNs, true)));
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.ack_missing());
  EXPECT_EQ(c.outcome(), Control::Outcome::kDone);  // committed: done all the same
  EXPECT_TRUE(c.reason().empty());
}

TEST(ReceiverControl, AReceiverServingPeersWaitsForTheByeWithoutADeadline) {
  Control c;
  c.serve_after_done();
  const uint64_t done_at = kT0 + kDrainMaxNs * 3;
  commit_and_send_done(c, done_at);
  EXPECT_FALSE(c.next_action(at(done_at + 100 * kDoneAckWaitNs, true)));
  EXPECT_FALSE(c.finished()) << "the session's end may be far";
  c.on_message(control::Bye{control::ByeCode::kFinished, ""}, done_at + 101 * kDoneAckWaitNs);
  EXPECT_TRUE(c.finished());
  EXPECT_FALSE(c.ack_missing());
  EXPECT_EQ(c.outcome(), Control::Outcome::kDone);
}

TEST(ReceiverControl, APeerAssignmentIsTakenOnlyAfterTheWholeManifest) {
  const control::PeerAssign assign{0xabc, 1, "10.0.0.2:7000", {{0, 0, 4}}};
  Control early;
  opened(early);
  early.on_message(manifest(0, 3), kT0);
  early.on_message(assign, kT0);
  expect_failed(early, "sender assigned a peer before the session and its whole manifest");
  Control c;
  ready(c);
  EXPECT_TRUE(std::holds_alternative<Control::FetchFromPeer>(c.on_message(assign, kT0)));
  EXPECT_FALSE(c.finished());
  // The driver hands the peer's PassEnd back: answered like the sender's.
  c.on_message(control::PassEnd{1, 0}, kT0 + kMs);
  EXPECT_TRUE(c.draining());
  auto a = c.next_action(at(kT0 + kDrainMaxNs + 2 * kMs));
  ASSERT_TRUE(a);
  ASSERT_TRUE(std::holds_alternative<Control::SendNak>(*a));
  EXPECT_EQ(std::get<Control::SendNak>(*a).pass, 1u);
}

TEST(ReceiverControl, AHangUpAfterDoneFinishesDoneWithoutAnAck) {
  Control c;
  commit_and_send_done(c, kT0 + kDrainMaxNs * 3);
  c.on_connection_closed("closed by peer");
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.ack_missing());
  EXPECT_EQ(c.outcome(), Control::Outcome::kDone);
}

TEST(ReceiverControl, AFailedCommitFailsWithItsReason) {
  Control c;
  ready(c);
  c.on_message(control::PassEnd{0, 100}, kT0 + kMs);
  auto a = c.next_action(at(kT0 + kMs + kDrainMaxNs + 1, true));
  ASSERT_TRUE(a && std::holds_alternative<Control::Commit>(*a));
  c.on_done_sent(make_error("whole-object SHA-256 mismatch"), kT0 + kDrainMaxNs);
  EXPECT_TRUE(c.done_sent());
  expect_failed(c, "whole-object SHA-256 mismatch");
}

TEST(ReceiverControl, AByeBeforeDoneFailsTheSession) {
  Control c;
  ready(c);
  c.on_message(control::Bye{control::ByeCode::kAborted, "interrupted"}, kT0 + kMs);
  expect_failed(c, "sender ended the session: interrupted");
  Control quiet;
  quiet.on_message(control::Bye{control::ByeCode::kAborted, ""}, kT0);
  expect_failed(quiet, "sender ended the session: no reason given");
}

TEST(ReceiverControl, ALostConnectionFailsUnlessDone) {
  Control c;
  ready(c);
  c.on_connection_closed("connection reset");
  expect_failed(c, "lost the connection to the sender (connection reset)");
}

TEST(ReceiverControl, NothingIsDueOnceFinished) {
  Control c;
  ready(c);
  c.on_message(control::PassEnd{0, 100}, kT0 + kMs);
  c.fail("disk full");
  EXPECT_FALSE(c.next_action(at(kT0 + kDrainMaxNs * 2)));
  expect_failed(c, "disk full");
}

}  // namespace
}  // namespace shoal::session
