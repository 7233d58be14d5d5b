// SenderCore and peer repair (control::PeerOffer, PeerAssign, PeerFailed): a receiver that offers
// is held once done; a unicast lane pass goes to the nearest free peer instead of the sender's
// feed; a peer that failed or left is assigned nothing more and its stragglers go on from the
// sender; --no-peer-repair declines every offer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "session/sender_core.h"
#include "tests/session/sender_core_harness.h"

namespace shoal::session {
namespace {

using namespace core_test;  // NOLINT: the harness is these tests' vocabulary

TEST(SenderCorePeers, TheSlowReceiversLaneGoesToThePeerThatOffered) {
  Session s(config(3));
  auto a = slow_after_pass0(s, 0, {1});
  EXPECT_TRUE(all_of<action::AckDone>(a).empty()) << "rx1 serves peers: held, not acknowledged";
  EXPECT_TRUE(s.core.receiver(1)->serving);
  EXPECT_TRUE(logged(a, "receiver rx1 serves peers at 10.0.0.1:7000"));
  EXPECT_TRUE(all_of<action::StartUnicastFeed>(a).empty()) << "the sender does not feed rx3";
  auto assigned = all_of<action::AssignPeer>(a);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].id, 3u);
  EXPECT_EQ(assigned[0].pass, 1u);
  EXPECT_EQ(assigned[0].address, peer_address(1));
  // Exactly what the sender's own feed would have been.
  EXPECT_EQ(strs(assigned[0].ranges),
            (std::vector<std::string>{"0:0+4", "1:0+4", "2:0+4", "3:0+4", "4:0+4", "5:4+3", "6:4+2",
                                      "7:4+1"}));
  EXPECT_EQ(s.core.receiver(1)->peer_load, 1u);
  EXPECT_EQ(s.core.receiver(3)->peer_passes, 1u);
  // rx2 finishes: the multicast passes are over, rx3's lane has its peer, rx1 stays held.
  s.core.on_pass_sent({1, 1, 0}, 30 * kMs);
  s.drain();
  s.done(2, 31 * kMs);
  s.core.on_tick(31 * kMs);
  a = s.drain();
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kUnicastDrain);
  for (const auto& ack : all_of<action::AckDone>(a)) EXPECT_NE(ack.id, 1u);
  EXPECT_TRUE(s.core.receiver(1)->serving);
  // rx3 is done: its peer is let go, and the session ends.
  s.done(3, 40 * kMs);
  s.core.on_tick(40 * kMs);
  a = s.drain();
  EXPECT_EQ(s.core.receiver(1)->peer_load, 0u) << "rx3's answer released its peer";
  EXPECT_FALSE(s.core.receiver(1)->serving);
  EXPECT_TRUE(logged(a, "peer rx1 is let go: no straggler needs it"));
  bool acked = false;
  for (const auto& ack : all_of<action::AckDone>(a)) acked |= ack.id == 1u;
  EXPECT_TRUE(acked);
  EXPECT_EQ(finished_with(a), SendOutcome::kAllVerified);
}

TEST(SenderCorePeers, AnIdlePeerIsLetGoOnceEveryLaneHasOne) {
  Session s(config(3));
  slow_after_pass0(s, 0, {1});
  s.core.on_pass_sent({1, 1, 0}, 30 * kMs);
  s.drain();
  s.core.on_message(2, control::PeerOffer{peer_address(2)}, 31 * kMs);
  s.done(2, 31 * kMs);
  EXPECT_TRUE(s.core.receiver(2)->serving) << "held while the passes run";
  s.core.on_tick(31 * kMs);
  auto a = s.drain();
  EXPECT_FALSE(s.core.receiver(2)->serving) << "rx3's lane has rx1: rx2 is not needed";
  EXPECT_TRUE(s.core.receiver(1)->serving);
  auto acks = all_of<action::AckDone>(a);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].id, 2u);
}

TEST(SenderCorePeers, ALaneAPeerFeedsFailsOnlyWhenItsProgressStops) {
  Session s(config(3));
  slow_after_pass0(s, 0, {1});
  s.core.on_pass_sent({1, 1, 0}, 30 * kMs);
  s.done(2, 31 * kMs);
  s.core.on_tick(31 * kMs);
  ASSERT_EQ(s.core.phase(), SenderCore::Phase::kUnicastDrain);
  const uint64_t limit = kAnswerTimeout + control::kPeerStallNs;
  uint64_t t = 40 * kMs;
  s.core.on_unicast_backlog(3, 0, t);  // nothing queued at the sender: the peer feeds it
  control::Progress p;
  p.runs = {{0, 2, control::kMissingWholeBlock}};
  s.core.on_message(3, p, t + limit / 2);
  s.core.on_unicast_backlog(3, 0, t + limit);
  EXPECT_EQ(s.state(3), ReceiverState::kReady) << "it reported progress half-way";
  s.core.on_unicast_backlog(3, 0, t + limit / 2 + limit + 1);
  EXPECT_EQ(s.state(3), ReceiverState::kFailed);
  EXPECT_EQ(s.core.receiver(1)->peer_load, 0u) << "its peer is free again";
}

TEST(SenderCorePeers, AnAnswerThatStillLacksIsAssignedAgain) {
  Session s(config(3));
  slow_after_pass0(s, 0, {1});
  s.nak(3, 1, {{2, 1, control::kMissingWholeBlock}}, 40 * kMs);
  auto assigned = all_of<action::AssignPeer>(s.drain());
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].pass, 2u);
  EXPECT_EQ(strs(assigned[0].ranges), std::vector<std::string>{"2:0+4"});
  EXPECT_EQ(s.core.receiver(1)->peer_load, 1u) << "released at the answer, taken again";
}

TEST(SenderCorePeers, APeerReportedFailedServesNoMoreAndTheSenderFeeds) {
  Session s(config(3));
  slow_after_pass0(s, 0, {1});
  // An address that is not its peer's changes nothing.
  s.core.on_message(3, control::PeerFailed{"10.9.9.9:1", "refused"}, 35 * kMs);
  EXPECT_TRUE(s.core.receiver(1)->serving);
  s.core.on_message(3, control::PeerFailed{peer_address(1), "connection refused"}, 36 * kMs);
  auto a = s.drain();
  EXPECT_FALSE(s.core.receiver(1)->serving);
  EXPECT_EQ(s.state(1), ReceiverState::kDone) << "it verified: it stays done";
  auto acks = all_of<action::AckDone>(a);
  ASSERT_EQ(acks.size(), 1u) << "acknowledged now: it may go";
  EXPECT_EQ(acks[0].id, 1u);
  EXPECT_TRUE(logged(a,
                     "peer rx1 at 10.0.0.1:7000 serves no more: receiver rx3 could not take "
                     "its pass from it (connection refused)"));
  s.nak(3, 1, {{0, 8, control::kMissingWholeBlock}}, 37 * kMs);
  a = s.drain();
  EXPECT_TRUE(all_of<action::AssignPeer>(a).empty());
  auto feeds = all_of<action::StartUnicastFeed>(a);
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].id, 3u);
}

TEST(SenderCorePeers, APeerWhoseConnectionClosedIsNotAssigned) {
  Session s(config(3));
  start_session(s, 3);
  s.core.on_pass_sent({32, 0, 0}, 20 * kMs);
  s.core.on_message(1, control::PeerOffer{peer_address(1)}, 21 * kMs);
  s.done(1, 21 * kMs);
  s.core.on_closed(1, "reset", 22 * kMs);
  EXPECT_EQ(s.state(1), ReceiverState::kDone);
  s.nak(2, 0, {{5, 1, 1}}, 23 * kMs);
  s.nak(3, 0, kSlowNeeds, 23 * kMs);
  s.core.on_tick(23 * kMs);
  auto a = s.drain();
  EXPECT_TRUE(all_of<action::AssignPeer>(a).empty());
  EXPECT_EQ(all_of<action::StartUnicastFeed>(a).size(), 1u);
}

TEST(SenderCorePeers, TheNearestPeerFirstAndAtMostItsLoad) {
  // Peers rx1 in 10.1.0.0/24 and rx2 in 10.2.0.0/24; ten receivers in 10.2.0.0/24 that the
  // multicast does not reach say so once both peers are done.
  SenderConfig c = config(12);
  c.answer_timeout_ns = 10'000 * kMs;
  Session s(std::move(c));
  auto join = [&](uint32_t id, const std::string& ip) {
    s.core.on_joined(id, name_of(id), ip + ":5000", "", kMs);
  };
  join(1, "10.1.0.5");
  join(2, "10.2.0.5");
  for (uint32_t id = 10; id < 20; ++id) join(id, "10.2.0." + std::to_string(id));
  s.core.on_tick(kMs);
  s.ready(1, 2 * kMs);
  s.ready(2, 2 * kMs);
  s.core.on_tick(600 * kMs);  // the quiet start: the others are not Ready
  s.core.on_pass_sent({32, 0, 0}, 610 * kMs);
  for (uint32_t id : {1u, 2u}) {
    s.core.on_message(id, control::PeerOffer{"10." + std::to_string(id) + ".0.5:7000"}, 611 * kMs);
    s.done(id, 611 * kMs);
  }
  s.drain();
  for (uint32_t id = 10; id < 20; ++id) s.ready(id, 612 * kMs, 0);
  auto a = s.drain();
  std::vector<std::string> to;
  for (const auto& p : all_of<action::AssignPeer>(a)) to.push_back(p.address);
  EXPECT_EQ(to, (std::vector<std::string>{"10.2.0.5:7000", "10.2.0.5:7000", "10.2.0.5:7000",
                                          "10.2.0.5:7000", "10.1.0.5:7000", "10.1.0.5:7000",
                                          "10.1.0.5:7000", "10.1.0.5:7000"}))
      << "the same subnet's peer first, each at most control::kPeerMaxClients";
  auto feeds = all_of<action::StartUnicastFeed>(a);
  ASSERT_EQ(feeds.size(), 2u) << "no peer free: the sender feeds the rest";
  EXPECT_EQ(feeds[0].id, 18u);
  EXPECT_EQ(feeds[1].id, 19u);
  // One of rx2's stragglers answers: rx2 is free again, and nearer than rx1 for the next one.
  s.nak(10, 0, {{0, 1, control::kMissingWholeBlock}}, 700 * kMs);
  auto again = all_of<action::AssignPeer>(s.drain());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].address, "10.2.0.5:7000");
}

TEST(SenderCorePeers, OnceReceiversWillServeTheSendersOwnLanePassesAreChunks) {
  SenderConfig c = config(2);
  c.block_k.assign(100, kK);  // a chunk: max(kMinLaneChunk, 100 / kLaneChunks) = 32 blocks
  Session s(std::move(c));
  s.join(1, kMs);
  s.join(2, kMs);
  s.core.on_tick(kMs);
  s.core.on_message(1, control::PeerOffer{}, 2 * kMs);  // rx1 will serve once verified
  s.ready(1, 2 * kMs);
  s.ready(2, 2 * kMs, 0);  // beyond the multicast: the unicast lane
  auto feeds = all_of<action::StartUnicastFeed>(s.drain());
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].id, 2u);
  ASSERT_EQ(feeds[0].items.size(), kMinLaneChunk);
  EXPECT_EQ(feeds[0].items.back().block, 31u);
  // rx1 is not done yet: the next chunk comes from the sender too.
  s.nak(2, feeds[0].pass, {{32, 68, control::kMissingWholeBlock}}, 10 * kMs);
  feeds = all_of<action::StartUnicastFeed>(s.drain());
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].items.front().block, 32u);
  EXPECT_EQ(feeds[0].items.size(), kMinLaneChunk);
  // rx1 verified and serves: the rest, whole, from it.
  s.core.on_tick(600 * kMs);
  s.core.on_pass_sent({400, 0, 0}, 700 * kMs);
  s.core.on_message(1, control::PeerOffer{peer_address(1)}, 701 * kMs);
  s.done(1, 701 * kMs);
  s.drain();
  s.nak(2, feeds[0].pass, {{64, 36, control::kMissingWholeBlock}}, 702 * kMs);
  auto assigned = all_of<action::AssignPeer>(s.drain());
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].address, peer_address(1));
  EXPECT_EQ(assigned[0].ranges.size(), 36u);
}

TEST(SenderCorePeers, TheSenderFeedsTwoLanesTheOthersWaitForPeers) {
  SenderConfig c = config(5);
  c.block_k.assign(100, kK);
  Session s(std::move(c));
  for (uint32_t id = 1; id <= 5; ++id) s.join(id, kMs);
  s.core.on_tick(kMs);
  s.core.on_message(1, control::PeerOffer{}, 2 * kMs);
  s.ready(1, 2 * kMs);
  for (uint32_t id = 2; id <= 5; ++id) s.ready(id, 2 * kMs, 0);
  auto feeds = all_of<action::StartUnicastFeed>(s.drain());
  ASSERT_EQ(feeds.size(), kSenderLanes);
  EXPECT_EQ(feeds[0].id, 2u);
  EXPECT_EQ(feeds[1].id, 3u);
  EXPECT_TRUE(s.core.receiver(4)->lane_queued);
  EXPECT_TRUE(s.core.receiver(5)->lane_queued);
  // rx2 answers its chunk: it keeps its lane (the first ones finish first, then serve).
  s.nak(2, feeds[0].pass, {{32, 68, control::kMissingWholeBlock}}, 10 * kMs);
  feeds = all_of<action::StartUnicastFeed>(s.drain());
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].id, 2u);
  EXPECT_TRUE(s.core.receiver(4)->lane_queued);
  // A waiting lane is not timed: the sender is the one that waits.
  s.core.on_tick(600 * kMs);
  s.core.on_pass_sent({400, 0, 0}, 700 * kMs);
  s.drain();
  s.core.on_message(1, control::PeerOffer{peer_address(1)}, 701 * kMs);
  s.done(1, 701 * kMs);
  auto a = s.drain();
  auto assigned = all_of<action::AssignPeer>(a);
  ASSERT_EQ(assigned.size(), 2u) << "rx1 serves: the two that waited go to it";
  EXPECT_EQ(assigned[0].id, 4u);
  EXPECT_EQ(assigned[1].id, 5u);
  EXPECT_EQ(assigned[0].ranges.size(), 100u) << "a peer's pass is not a chunk";
  EXPECT_FALSE(s.core.receiver(4)->lane_queued);
  // rx3 fails: its sender lane is free, nobody waits.
  s.core.on_closed(3, "reset", 702 * kMs);
  s.drain();
  EXPECT_EQ(s.state(3), ReceiverState::kFailed);
}

TEST(SenderCorePeers, WithoutReceiversThatServeTheLaneIsOnePass) {
  SenderConfig c = config(2);
  c.block_k.assign(100, kK);
  Session s(std::move(c));
  one_heard_one_beyond(s);
  auto feeds = all_of<action::StartUnicastFeed>(s.drain());
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].items.size(), 100u);
}

// 2,000 receivers: 1,600 hear the multicast and serve once done; then 400 in one of their two
// subnets say the multicast does not reach them. Every lane goes to a peer of its own /16 (its own
// /24 where one is free), never more than kPeerMaxClients to one; all 2,000 verify.
TEST(SenderCorePeers, TwoThousandReceiversFourHundredServedByPeers) {
  constexpr uint32_t kHeard = 1600, kFar = 400;
  SenderConfig c = config(kHeard + kFar);
  c.block_k.assign(64, kK);
  c.answer_timeout_ns = 10'000 * kMs;
  Session s(std::move(c));
  // Heard ones in 10.1.0.0/16 and 10.2.0.0/16 (half each), far ones in 10.2.0.0/16; each in one of
  // four /24s, 10.x.10 to 10.x.13.
  auto ip = [](uint32_t id) {
    const uint32_t net = id <= kHeard / 2 ? 1 : 2;
    return "10." + std::to_string(net) + "." + std::to_string(10 + id % 4) + "." +
           std::to_string(id / 4 % 250 + 1);
  };
  for (uint32_t id = 1; id <= kHeard + kFar; ++id) {
    s.core.on_joined(id, name_of(id), ip(id) + ":5000", "", kMs);
  }
  s.core.on_tick(kMs);
  for (uint32_t id = 1; id <= kHeard; ++id) {
    s.core.on_message(id, control::PeerOffer{}, 2 * kMs);
    s.ready(id, 2 * kMs);
  }
  s.core.on_tick(600 * kMs);  // the quiet start: the far ones have not said Ready yet
  s.core.on_pass_sent({64 * kK, 0, 0}, 700 * kMs);
  s.drain();
  for (uint32_t id = 1; id <= kHeard; ++id) {
    s.core.on_message(id, control::PeerOffer{ip(id) + ":7000"}, 800 * kMs);
    s.done(id, 800 * kMs);
  }
  s.drain();
  std::map<std::string, int> load;
  size_t same_24 = 0;
  for (uint32_t id = kHeard + 1; id <= kHeard + kFar; ++id) s.ready(id, 900 * kMs, 0);
  auto a = s.drain();
  EXPECT_TRUE(all_of<action::StartUnicastFeed>(a).empty()) << "peers were free for every lane";
  auto assigned = all_of<action::AssignPeer>(a);
  ASSERT_EQ(assigned.size(), size_t{kFar});
  for (const auto& p : assigned) {
    ++load[p.address];
    EXPECT_EQ(p.address.rfind("10.2.", 0), 0u) << p.address;
    const std::string far = ip(p.id);
    same_24 += p.address.substr(0, p.address.rfind('.')) == far.substr(0, far.rfind('.'));
  }
  for (const auto& [address, n] : load) EXPECT_LE(n, int(control::kPeerMaxClients)) << address;
  EXPECT_EQ(same_24, size_t{kFar}) << "each /24 has 200 peers: room for its 100 far ones";
  for (uint32_t id = kHeard + 1; id <= kHeard + kFar; ++id) s.done(id, 950 * kMs);
  s.core.on_tick(950 * kMs);
  a = s.drain();
  EXPECT_EQ(finished_with(a), SendOutcome::kAllVerified);
  EXPECT_EQ(s.core.count_done(), size_t{kHeard + kFar});
}

TEST(SenderCorePeers, WithUntilSomeIdlePeersStayForTheReceiversToCome) {
  SenderConfig c = config(10);
  c.until_ns = 100'000 * kMs;
  Session s(std::move(c));
  start_session(s, 10);
  s.core.on_pass_sent({32, 0, 0}, 20 * kMs);
  for (uint32_t id = 1; id <= 10; ++id) {
    s.core.on_message(id, control::PeerOffer{peer_address(id)}, 21 * kMs);
    s.done(id, 21 * kMs);
  }
  s.drain();
  s.core.on_tick(22 * kMs);
  s.core.on_tick(23 * kMs);
  auto a = s.drain();
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kLinger);
  EXPECT_EQ(all_of<action::AckDone>(a).size(), 10 - kLingerPeers);
  size_t serving = 0;
  for (uint32_t id = 1; id <= 10; ++id) serving += s.core.receiver(id)->serving;
  EXPECT_EQ(serving, kLingerPeers);
  EXPECT_FALSE(finished_with(a)) << "--until: still joinable";
}

TEST(SenderCorePeers, OffersAreDeclinedWithoutPeerRepair) {
  SenderConfig c = config(3);
  c.peer_repair = false;
  Session s(std::move(c));
  auto a = slow_after_pass0(s, 0, {1});
  EXPECT_FALSE(s.core.receiver(1)->serving);
  auto acks = all_of<action::AckDone>(a);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].id, 1u);
  EXPECT_TRUE(all_of<action::AssignPeer>(a).empty());
  EXPECT_EQ(all_of<action::StartUnicastFeed>(a).size(), 1u);
}

}  // namespace
}  // namespace shoal::session
