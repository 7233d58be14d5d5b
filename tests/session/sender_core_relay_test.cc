// SenderCore and relays (control::Relaying, control::Downstream): a relay's copy verified, the
// session waits for its segment; the receivers it reports count as the sender's own (outcome,
// --hosts, exit status); a relay lost while relaying fails.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "session/sender_core.h"
#include "tests/session/sender_core_harness.h"

namespace shoal::session {
namespace {

using namespace core_test;  // NOLINT: the harness is these tests' vocabulary

// rx1 a receiver that heard the beacon, rx2 a relay beyond the multicast (unicast feed).
Session relay_session(SenderConfig c = config(2)) {
  Session s(std::move(c));
  one_heard_one_beyond(s);
  s.core.on_tick(2 * kMs);
  s.drain();
  return s;
}

void relaying(Session& s, uint32_t id, uint64_t now) {
  s.core.on_message(id, control::Relaying{"239.1.1.2:9000 via eth1"}, now);
}
void downstream(Session& s, uint32_t id, std::string name, bool ok, std::string reason,
                uint64_t now) {
  s.core.on_message(
      id, control::Downstream{std::move(name), "10.9.0.7:4000", ok, std::move(reason)}, now);
}
void segment_done(Session& s, uint32_t id, bool ok, std::string reason, uint64_t now) {
  control::Done d;
  d.ok = ok;
  d.reason = std::move(reason);
  s.core.on_message(id, d, now);
}

TEST(SenderCoreRelay, TheSessionWaitsForTheRelaysSegmentAndCountsItsReceivers) {
  Session s = relay_session();
  s.core.on_pass_sent({32, 0}, 10 * kMs);
  s.drain();
  s.done(1, 11 * kMs);
  relaying(s, 2, 12 * kMs);
  auto a = s.drain();
  EXPECT_EQ(s.state(2), ReceiverState::kRelaying);
  EXPECT_TRUE(
      logged(a, "receiver rx2 verified the object and relays it into 239.1.1.2:9000 via eth1"));
  s.core.on_tick(1000 * kMs);
  EXPECT_FALSE(finished_with(s.drain())) << "the relay's segment is not done yet";
  downstream(s, 2, "n7", true, "", 1001 * kMs);
  downstream(s, 2, "n8", true, "", 1002 * kMs);
  segment_done(s, 2, true, "", 1003 * kMs);
  s.core.on_tick(1003 * kMs);
  a = s.drain();
  EXPECT_EQ(all_of<action::AckDone>(a).size(), 1u);
  EXPECT_EQ(finished_with(a), SendOutcome::kAllVerified);
  auto events = all_of<action::Emit>(a);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().fields["ok"], 4) << "rx1, the relay and its two receivers";
  const ReceiverRecord* relay = s.core.receiver(2);
  ASSERT_EQ(relay->relayed.size(), 2u);
  EXPECT_EQ(relay->relayed[1].name, "n8");
  EXPECT_EQ(relay->segment, "239.1.1.2:9000 via eth1");
}

TEST(SenderCoreRelay, AFailedReceiverBehindARelayFailsTheSession) {
  Session s = relay_session();
  s.core.on_pass_sent({32, 0}, 10 * kMs);
  s.done(1, 11 * kMs);
  relaying(s, 2, 12 * kMs);
  downstream(s, 2, "n7", true, "", 20 * kMs);
  downstream(s, 2, "n8", false, "disk full", 21 * kMs);
  segment_done(s, 2, false, "1 of 2 receivers of its segment failed", 22 * kMs);
  s.core.on_tick(22 * kMs);
  auto a = s.drain();
  EXPECT_TRUE(logged(a, "receiver n8 (10.9.0.7:4000, through relay rx2) failed: disk full"));
  EXPECT_EQ(finished_with(a), SendOutcome::kSomeFailed);
  EXPECT_EQ(s.state(2), ReceiverState::kFailed);
  EXPECT_EQ(s.core.receiver(2)->reason, "1 of 2 receivers of its segment failed");
  auto events = all_of<action::Emit>(a);
  EXPECT_EQ(events.back().fields["ok"], 2) << "rx1 and n7";
  EXPECT_EQ(events.back().fields["failed"], 2) << "the relay and n8";
}

TEST(SenderCoreRelay, ARelayLostWhileRelayingFails) {
  Session s = relay_session();
  s.core.on_pass_sent({32, 0}, 10 * kMs);
  s.done(1, 11 * kMs);
  relaying(s, 2, 12 * kMs);
  s.core.on_closed(2, "peer closed the connection", 13 * kMs);
  s.core.on_tick(13 * kMs);
  auto a = s.drain();
  EXPECT_EQ(finished_with(a), SendOutcome::kSomeFailed);
  EXPECT_EQ(s.core.receiver(2)->reason, "connection lost: peer closed the connection");
}

TEST(SenderCoreRelay, ReceiversBehindARelayAnswerForHosts) {
  SenderConfig c = config(2);
  c.hosts = {"rx1", "rx2", "n7", "10.9.0.7", "ghost"};
  Session s = relay_session(c);
  s.core.on_tick(kMaxWait);  // the relayed hosts cannot join directly: the wait runs out
  s.drain();
  s.core.on_pass_sent({32, 0}, kMaxWait + kMs);
  s.done(1, kMaxWait + kMs);
  relaying(s, 2, kMaxWait + kMs);
  downstream(s, 2, "n7", true, "", kMaxWait + 2 * kMs);  // by name, and the next by address
  downstream(s, 2, "n8", true, "", kMaxWait + 2 * kMs);
  EXPECT_EQ(s.core.hosts_missing(), std::vector<std::string>{"ghost"});
}

// recv --sender RELAY,SENDER: one the relay reports failed that goes on from the sender counts
// once, as its entry at the sender, whichever comes first.
TEST(SenderCoreRelay, OneThatWentOnFromTheSenderCountsOnce) {
  for (const bool report_first : {true, false}) {
    SCOPED_TRACE(report_first ? "reported, then joined" : "joined, then reported");
    SenderConfig c = config(2);
    c.answer_timeout_ns = 10'000 * kMs;
    Session s = relay_session(c);
    s.core.on_pass_sent({32, 0}, 10 * kMs);
    s.done(1, 11 * kMs);
    relaying(s, 2, 12 * kMs);
    auto join_n8 = [&] {
      s.core.on_joined(3, "n8", "10.9.0.8:5000", "", 20 * kMs);
      s.ready(3, 21 * kMs, 0);
    };
    if (!report_first) join_n8();
    downstream(s, 2, "n7", true, "", 22 * kMs);
    downstream(s, 2, "n8", false, "aborted: the relay was stopped", 22 * kMs);
    if (report_first) join_n8();
    segment_done(s, 2, false, "1 of 2 receivers of its segment failed", 23 * kMs);
    s.done(3, 30 * kMs);
    s.core.on_tick(30 * kMs);
    auto a = s.drain();
    EXPECT_TRUE(s.core.receiver(2)->relayed[1].superseded);
    auto events = all_of<action::Emit>(a);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().name, "end");
    EXPECT_EQ(events.back().fields["ok"], 3) << "rx1, n7, n8 (from the sender)";
    EXPECT_EQ(events.back().fields["failed"], 1) << "the relay";
  }
}

TEST(SenderCoreRelay, DownstreamOrRelayingOutOfTurnIsAProtocolError) {
  Session s = relay_session();
  downstream(s, 2, "n7", true, "", 5 * kMs);
  EXPECT_EQ(s.state(2), ReceiverState::kFailed);
  EXPECT_EQ(s.core.receiver(2)->reason,
            "protocol error: Downstream from a receiver that is not relaying");
  Session t(config(1));
  t.join(1, kMs);
  t.core.on_tick(kMs);
  relaying(t, 1, 2 * kMs);  // not Ready yet
  EXPECT_EQ(t.state(1), ReceiverState::kFailed);
}

}  // namespace
}  // namespace shoal::session
