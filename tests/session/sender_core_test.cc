// SenderCore driven through whole sessions with fabricated receiver messages and a fake clock:
// start decisions, scope on Ready, passes and repair, failures, resume, late joins, rejoins.
#include "session/sender_core.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/session/sender_core_harness.h"

namespace shoal::session {
namespace {

using namespace core_test;  // NOLINT: the harness is these tests' vocabulary

TEST(SenderCore, ThreeReceiversStartAtMinimumAndFinishVerified) {
  Session s(config(3));
  s.join(1, 1 * kMs);
  s.join(2, 2 * kMs);
  s.core.on_tick(2 * kMs);
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kJoining);
  EXPECT_TRUE(all_of<action::Begin>(s.drain()).empty());
  s.join(3, 3 * kMs);
  s.core.on_tick(3 * kMs);
  auto a = s.drain();
  ASSERT_EQ(all_of<action::Begin>(a).size(), 1u);
  EXPECT_EQ(all_of<action::Begin>(a)[0].receivers, 3u);
  EXPECT_EQ(all_of<action::SendSession>(a).size(), 3u);
  EXPECT_TRUE(s.core.awaiting_ready());
  for (uint32_t id = 1; id <= 3; ++id) s.ready(id, 4 * kMs);
  s.core.on_tick(4 * kMs);
  a = s.drain();
  EXPECT_FALSE(s.core.awaiting_ready());
  EXPECT_EQ(all_of<action::BeginData>(a).size(), 1u);
  auto passes = all_of<action::StartPass>(a);
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(passes[0].pass, 0u);
  ASSERT_EQ(passes[0].ranges.size(), kBlocks);
  for (uint32_t b = 0; b < kBlocks; ++b) {
    EXPECT_EQ(passes[0].ranges[b].block, b);
    EXPECT_EQ(passes[0].ranges[b].first_esi, 0);
    EXPECT_EQ(passes[0].ranges[b].count, kK);
  }
  EXPECT_EQ(s.core.data_start_ns(), 4 * kMs);

  s.core.on_pass_sent({32, 0}, 5 * kMs);
  a = s.drain();
  auto ends = all_of<action::SendPassEnd>(a);
  ASSERT_EQ(ends.size(), 3u);
  for (const auto& e : ends) {
    EXPECT_EQ(e.pass, 0u);
    EXPECT_EQ(e.frames_sent, 32u);
  }
  for (uint32_t id = 1; id <= 3; ++id) s.done(id, 6 * kMs);
  s.core.on_tick(6 * kMs);
  a = s.drain();
  EXPECT_EQ(finished_with(a), SendOutcome::kAllVerified);
  EXPECT_TRUE(s.core.finished());
  EXPECT_EQ(s.core.passes(), 1u);
  for (uint32_t id = 1; id <= 3; ++id) EXPECT_EQ(s.state(id), ReceiverState::kDone);
  EXPECT_TRUE(logged(a, "receiver rx2 verified the object"));
  auto events = all_of<action::Emit>(a);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().name, "end");
  EXPECT_EQ(events.back().fields["ok"], 3);
  EXPECT_EQ(events.back().fields["failed"], 0);
}

TEST(SenderCore, StartsAtTheDeadlineWithFewerThanWanted) {
  Session s(config(3));
  s.join(1, 1 * kMs);
  s.core.on_tick(kMaxWait - 1);
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kJoining);
  EXPECT_EQ(s.core.next_deadline_ns(), kMaxWait);
  s.core.on_tick(kMaxWait);
  auto a = s.drain();
  EXPECT_TRUE(logged(a, "--max-wait reached with 1 of 3 receivers: starting with those"));
  ASSERT_EQ(all_of<action::Begin>(a).size(), 1u);
  EXPECT_EQ(all_of<action::Begin>(a)[0].receivers, 1u);
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kAwaitReady);
}

TEST(SenderCore, NobodyJoinedFinishesWithThatOutcome) {
  Session s(config(1));
  s.core.on_tick(kMaxWait);
  auto a = s.drain();
  EXPECT_EQ(finished_with(a), SendOutcome::kNobodyJoined);
  EXPECT_TRUE(logged(a,
                     "no receiver joined within 1s: check that receivers use --sender "
                     "0.0.0.0:9100"));
  EXPECT_TRUE(all_of<action::Begin>(a).empty());
  EXPECT_EQ(event_names(a), std::vector<std::string>{"end"});
}

TEST(SenderCore, LossIsRepairedByFreshRowsThenDone) {
  Session s(config(2));
  start_session(s, 2);
  s.core.on_pass_sent({32, 0}, 20 * kMs);
  s.drain();
  // Both lack 2 symbols of block 3: one multicast range of 2 fresh rows. Block 5 only rx2
  // lacks: unicast to it.
  s.nak(1, 0, {{3, 1, 2}}, 21 * kMs);
  s.nak(2, 0, {{3, 1, 2}, {5, 1, 1}}, 21 * kMs);
  s.core.on_tick(21 * kMs);
  auto a = s.drain();
  EXPECT_TRUE(logged(a,
                     "pass 0: 2 receiver(s) still missing data; repair 2 multicast + 1 "
                     "unicast symbols"));
  auto passes = all_of<action::StartPass>(a);
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(passes[0].pass, 1u);
  ASSERT_EQ(passes[0].ranges.size(), 1u);
  EXPECT_EQ(passes[0].ranges[0].block, 3u);
  EXPECT_EQ(passes[0].ranges[0].first_esi, kK);  // the first repair row: fresh to everyone
  EXPECT_EQ(passes[0].ranges[0].count, 2);

  s.core.on_pass_sent({2, 2}, 30 * kMs);
  a = s.drain();
  auto unicast = all_of<action::SendUnicastRepair>(a);
  ASSERT_EQ(unicast.size(), 1u);
  EXPECT_EQ(unicast[0].id, 2u);
  ASSERT_EQ(unicast[0].ranges.size(), 1u);
  EXPECT_EQ(unicast[0].ranges[0].block, 5u);
  EXPECT_EQ(unicast[0].ranges[0].first_esi, kK);
  EXPECT_EQ(unicast[0].ranges[0].count, 1);
  auto ends = all_of<action::SendPassEnd>(a);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[0].pass, 1u);
  EXPECT_EQ(ends[0].frames_sent, 34u);
  EXPECT_EQ(s.core.repair_frames(), 2u);
  s.done(1, 31 * kMs);
  s.done(2, 31 * kMs);
  s.core.on_tick(31 * kMs);
  EXPECT_EQ(finished_with(s.drain()), SendOutcome::kAllVerified);
  EXPECT_EQ(s.core.passes(), 2u);
}

TEST(SenderCore, ConnectionLostFailsOnlyThatReceiver) {
  Session s(config(3));
  start_session(s, 3);
  s.core.on_pass_sent({32, 0}, 20 * kMs);
  // Not drained yet: rx2's PassEnd is still queued when its connection dies.
  s.core.on_closed(2, "connection reset by peer", 21 * kMs);
  auto a = s.drain();
  auto ends = all_of<action::SendPassEnd>(a);
  ASSERT_EQ(ends.size(), 2u);
  for (const auto& e : ends) EXPECT_NE(e.id, 2u);
  auto fails = all_of<action::FailReceiver>(a);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].id, 2u);
  EXPECT_EQ(fails[0].reason, "connection lost: connection reset by peer");
  EXPECT_TRUE(logged(a, "receiver rx2 (10.0.0.2:5000) failed: connection lost"));
  EXPECT_EQ(s.state(2), ReceiverState::kFailed);
  s.done(1, 22 * kMs);
  s.done(3, 22 * kMs);
  s.core.on_tick(22 * kMs);
  a = s.drain();
  EXPECT_EQ(finished_with(a), SendOutcome::kSomeFailed);
  auto events = all_of<action::Emit>(a);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().fields["ok"], 2);
  EXPECT_EQ(events.back().fields["failed"], 1);
}

// Issue #17 item 4: SIGINT/SIGTERM on the sender. Receivers not done are told the session was
// aborted (Bye kAborted: they keep their partial data), a receiver already done keeps its
// outcome, and the session finishes as kAborted.
TEST(SenderCore, AbortTellsEveryReceiverNotDoneAndFinishesAborted) {
  Session s(config(3));
  start_session(s, 3);
  s.core.on_pass_sent({32, 0}, 20 * kMs);
  s.drain();
  s.done(1, 21 * kMs);
  s.drain();
  s.core.abort("the sender was stopped (SIGINT)", 22 * kMs);
  auto a = s.drain();
  auto fails = all_of<action::FailReceiver>(a);
  ASSERT_EQ(fails.size(), 2u);
  for (const auto& f : fails) {
    EXPECT_NE(f.id, 1u) << "a receiver that is done is not aborted";
    EXPECT_EQ(f.code, control::ByeCode::kAborted);
    EXPECT_EQ(f.reason, "aborted: the sender was stopped (SIGINT)");
  }
  EXPECT_EQ(s.state(1), ReceiverState::kDone);
  EXPECT_EQ(s.state(2), ReceiverState::kFailed);
  EXPECT_EQ(finished_with(a), SendOutcome::kAborted);
  EXPECT_TRUE(s.core.aborted());
  EXPECT_TRUE(s.core.finished());
  s.core.abort("again", 23 * kMs);  // once only
  EXPECT_TRUE(s.drain().empty());
}

TEST(SenderCore, AbortWhileWaitingForReceiversFinishesAborted) {
  Session s(config(3));
  s.join(1, 1 * kMs);
  s.drain();
  s.core.abort("the sender was stopped (SIGTERM)", 2 * kMs);
  auto a = s.drain();
  EXPECT_EQ(all_of<action::FailReceiver>(a).size(), 1u);
  EXPECT_EQ(finished_with(a), SendOutcome::kAborted);
}

TEST(SenderCore, PassLimitFailsWhatIsStillMissing) {
  SenderConfig c = config(1);
  c.max_passes = 3;
  c.unicast_budget_symbols = 0;  // every repair goes multicast
  Session s(std::move(c));
  auto a = start_session(s, 1);
  size_t passes = all_of<action::StartPass>(a).size();
  uint64_t now = 20 * kMs;
  while (!s.core.finished() && passes < 10) {
    s.core.on_pass_sent({1, 1}, now);
    s.drain();
    s.nak(1, s.core.passes() - 1, {{0, 2, 1}}, now);
    s.core.on_tick(now);
    a = s.drain();
    passes += all_of<action::StartPass>(a).size();
    now += kMs;
  }
  EXPECT_EQ(passes, 3u);
  EXPECT_EQ(s.core.passes(), 3u);
  EXPECT_EQ(finished_with(a), SendOutcome::kSomeFailed);
  EXPECT_EQ(s.core.receiver(1)->reason,
            "still missing 2 block(s) after 3 passes (heavy loss or a too slow receiver; try a "
            "lower --rate or more --max-passes)");
}

TEST(SenderCore, AReceiverFailsWhenRepairStopsHelpingItNotAtAPassCount) {
  SenderConfig c = config(2);
  c.max_passes = 50;
  c.unicast_budget_symbols = 0;  // every repair goes multicast
  Session s(std::move(c));
  start_session(s, 2);
  uint64_t now = 20 * kMs;
  // rx1 lacks one block less each pass (5, 4, ... 1, then Done); rx2 always the same 2 symbols.
  for (uint32_t pass = 0; pass < 8 && !s.core.finished(); ++pass) {
    s.core.on_pass_sent({1, 1}, now);
    s.drain();
    if (s.state(1) != ReceiverState::kDone) {
      if (pass < 5) {
        s.nak(1, pass, {{0, 5 - pass, 1}}, now);
      } else {
        s.done(1, now);
      }
    }
    if (s.state(2) != ReceiverState::kFailed) s.nak(2, pass, {{5, 1, 2}}, now);
    s.core.on_tick(now);
    s.drain();
    now += kMs;
  }
  EXPECT_EQ(s.state(1), ReceiverState::kDone) << "it made progress every pass";
  ASSERT_EQ(s.state(2), ReceiverState::kFailed);
  EXPECT_EQ(s.core.receiver(2)->reason,
            "made no progress in 3 repair passes: still lacks 2 symbol(s) (multicast stopped "
            "reaching it, or its blocks keep failing verification; check its network path and "
            "its log)");
}

TEST(SenderCore, ExpectedHostsStartTheSessionOnceAllJoinedByNameAddressOrCertificate) {
  SenderConfig c = config(1);
  c.hosts = {"rx1", "10.0.0.2", "node3.example"};
  Session s(std::move(c));
  s.join(1, 10 * kMs);                                              // by name
  s.core.on_joined(2, "whatever", "10.0.0.2:41000", "", 11 * kMs);  // by address
  s.core.on_tick(12 * kMs);
  EXPECT_FALSE(s.core.started()) << "node3.example has not joined";
  EXPECT_EQ(s.core.hosts_missing(), std::vector<std::string>{"node3.example"});
  s.core.on_joined(3, "n3", "10.0.0.3:41000", "node3.example", 13 * kMs);  // by certificate
  s.core.on_tick(13 * kMs);
  EXPECT_TRUE(s.core.started());
  EXPECT_TRUE(s.core.hosts_missing().empty());
}

TEST(SenderCore, AnExpectedHostThatNeverJoinedFailsTheSendAtTheDeadline) {
  SenderConfig c = config(1);
  c.hosts = {"rx1", "ghost"};
  Session s(std::move(c));
  s.join(1, 10 * kMs);
  s.core.on_tick(10 * kMs);
  EXPECT_FALSE(s.core.started());
  s.core.on_tick(kMaxWait + 1);
  auto a = s.drain();
  ASSERT_TRUE(s.core.started());
  EXPECT_TRUE(logged(a, "expected host ghost did not join within --max-wait"));
  s.ready(1, kMaxWait + 2);
  s.core.on_tick(kMaxWait + 2);
  s.drain();
  s.core.on_pass_sent({32, 0}, kMaxWait + 3);
  s.drain();
  s.done(1, kMaxWait + 4);
  s.core.on_tick(kMaxWait + 4);
  a = s.drain();
  EXPECT_EQ(s.state(1), ReceiverState::kDone);
  EXPECT_EQ(finished_with(a), SendOutcome::kSomeFailed) << "ghost was not delivered to";
  EXPECT_EQ(s.core.hosts_missing(), std::vector<std::string>{"ghost"});
}

TEST(SenderCore, SilentReceiverFailsAtTheAnswerTimeout) {
  Session s(config(2));
  start_session(s, 2);
  const uint64_t sent = 50 * kMs;
  s.core.on_pass_sent({32, 0}, sent);
  s.drain();
  s.done(1, sent + kMs);
  s.core.on_tick(sent + kAnswerTimeout - 1);
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kAwaitAnswers);
  EXPECT_EQ(s.core.next_deadline_ns(), sent + kAnswerTimeout);
  EXPECT_TRUE(all_of<action::FailReceiver>(s.drain()).empty());
  s.core.on_tick(sent + kAnswerTimeout);
  auto a = s.drain();
  auto fails = all_of<action::FailReceiver>(a);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].id, 2u);
  EXPECT_EQ(fails[0].reason, "stopped answering after pass 0");
  EXPECT_EQ(finished_with(a), SendOutcome::kSomeFailed);
}

TEST(SenderCore, NoBeaconEchoMeansUnicastUnderScopeAuto) {
  Session s(config(1));
  s.join(1, kMs);
  s.core.on_tick(kMs);
  s.drain();
  s.ready(1, 2 * kMs, 0);
  auto a = s.drain();
  EXPECT_TRUE(logged(a, "did not hear the session's multicast beacon (group 239.1.2.3, TTL 1)"));
  EXPECT_TRUE(logged(a, "serving it the whole object by unicast"));
  auto feeds = all_of<action::StartUnicastFeed>(a);
  ASSERT_EQ(feeds.size(), 1u);
  // Every block's source symbols, block by block.
  ASSERT_EQ(feeds[0].items.size(), kBlocks);
  for (uint32_t b = 0; b < kBlocks; ++b) EXPECT_EQ(str(feeds[0].items[b]), str({b, 0, kK}));
  EXPECT_TRUE(s.core.receiver(1)->unicast);
  // No multicast receiver: no pass, the session waits for the unicast stream.
  s.core.on_tick(3 * kMs);
  a = s.drain();
  EXPECT_TRUE(all_of<action::StartPass>(a).empty());
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kUnicastDrain);
  // A block failed its hash: streamed again as unicast pass 1.
  s.nak(1, 0, {{6, 1, control::kMissingWholeBlock}}, 4 * kMs);
  feeds = all_of<action::StartUnicastFeed>(s.drain());
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].pass, 1u);
  ASSERT_EQ(feeds[0].items.size(), 1u);
  EXPECT_EQ(str(feeds[0].items[0]), str({6, 0, kK}));
  s.done(1, 5 * kMs);
  s.core.on_tick(5 * kMs);
  EXPECT_EQ(finished_with(s.drain()), SendOutcome::kAllVerified);
}

TEST(SenderCore, StalledUnicastStreamFails) {
  Session s(config(1));
  s.join(1, kMs);
  s.core.on_tick(kMs);
  s.ready(1, kMs, 0);
  s.core.on_tick(kMs);
  s.drain();
  ASSERT_EQ(s.core.phase(), SenderCore::Phase::kUnicastDrain);
  s.core.on_unicast_backlog(1, 4096, 10 * kMs);
  s.core.on_unicast_backlog(1, 4096, 10 * kMs + kAnswerTimeout);
  EXPECT_EQ(s.state(1), ReceiverState::kReady);
  s.core.on_unicast_backlog(1, 4096, 10 * kMs + kAnswerTimeout + 1);
  EXPECT_EQ(s.state(1), ReceiverState::kFailed);
  EXPECT_EQ(s.core.receiver(1)->reason, "unicast stream stalled: the receiver took no data for 0s");
  s.core.on_tick(200 * kMs);
  EXPECT_EQ(finished_with(s.drain()), SendOutcome::kSomeFailed);
}

TEST(SenderCore, NoBeaconEchoFailsUnderScopeStrict) {
  SenderConfig c = config(1);
  c.scope_strict = true;
  Session s(std::move(c));
  s.join(1, kMs);
  s.core.on_tick(kMs);
  s.ready(1, 2 * kMs, 0);
  auto a = s.drain();
  EXPECT_TRUE(all_of<action::StartUnicastFeed>(a).empty());
  auto fails = all_of<action::FailReceiver>(a);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_NE(fails[0].reason.find("did not hear the session's multicast beacon"), std::string::npos);
  EXPECT_NE(fails[0].reason.find("(--scope strict refuses it)"), std::string::npos);
}

TEST(SenderCore, WrongBeaconEchoFails) {
  Session s(config(1));
  s.join(1, kMs);
  s.core.on_tick(kMs);
  s.ready(1, 2 * kMs, kNonce + 1);
  auto fails = all_of<action::FailReceiver>(s.drain());
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].reason, "echoed a beacon this session never sent");
  EXPECT_FALSE(s.core.receiver(1)->unicast);
}

TEST(SenderCore, LateJoinerGetsTheSessionAtOnce) {
  Session s(config(1));
  start_session(s, 1);
  s.core.on_pass_sent({32, 0}, 20 * kMs);
  s.drain();
  s.join(2, 21 * kMs);
  auto a = s.drain();
  auto sessions = all_of<action::SendSession>(a);
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].id, 2u);
  EXPECT_TRUE(logged(a,
                     "receiver rx2 joined from 10.0.0.2:5000 (session running: it joins the "
                     "next repair step)"));
  auto joins = all_of<action::Emit>(a);
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0].fields["late"], true);
  EXPECT_TRUE(s.core.awaiting_ready());
}

// --until (#17 item 1): machines that boot late still get the object from the same send.
SenderConfig until_config(uint64_t until_ns) {
  SenderConfig c = config(1);
  c.until_ns = until_ns;
  return c;
}

// rx1 joins, gets pass 0 and is done at 21 ms: the actions of that last tick.
std::vector<SenderAction> first_receiver_done(Session& s) {
  start_session(s, 1);
  s.core.on_pass_sent({32, 0}, 20 * kMs);
  s.drain();
  s.done(1, 21 * kMs);
  s.core.on_tick(21 * kMs);
  return s.drain();
}

TEST(SenderCore, UntilKeepsTheSessionOpenAndACycleServesALateJoinerAlone) {
  Session s(until_config(5000 * kMs));
  auto a = first_receiver_done(s);
  EXPECT_FALSE(finished_with(a)) << "everyone so far is done, but --until is not over";
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kLinger);
  EXPECT_TRUE(s.core.joinable(21 * kMs));
  EXPECT_TRUE(logged(a, "the session stays joinable for 5s more (--until)"));

  // A machine boots late: it joins, says what it lacks (everything) and Ready.
  s.join(2, 3000 * kMs);
  a = s.drain();
  ASSERT_EQ(all_of<action::SendSession>(a).size(), 1u);
  s.core.on_tick(3001 * kMs);
  EXPECT_TRUE(all_of<action::StartPass>(s.drain()).empty()) << "not before it is Ready";
  s.nak(2, control::kInitialPass, {{0, kBlocks, control::kMissingWholeBlock}}, 3002 * kMs);
  s.ready(2, 3002 * kMs);
  s.core.on_tick(3002 * kMs);
  a = s.drain();
  EXPECT_TRUE(all_of<action::BeginData>(a).empty()) << "the data plane is set up once";
  auto passes = all_of<action::StartPass>(a);
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(passes[0].pass, 1u);
  EXPECT_EQ(passes[0].ranges.size(), kBlocks);
  EXPECT_EQ(s.core.cycles(), 1u);
  s.core.on_pass_sent({32, 0}, 3100 * kMs);
  auto ends = all_of<action::SendPassEnd>(s.drain());
  ASSERT_EQ(ends.size(), 1u) << "the receiver that is done is not disturbed";
  EXPECT_EQ(ends[0].id, 2u);
  s.done(2, 3101 * kMs);
  s.core.on_tick(3101 * kMs);
  EXPECT_FALSE(finished_with(s.drain()));
  s.core.on_tick(5000 * kMs);
  EXPECT_EQ(finished_with(s.drain()), SendOutcome::kAllVerified);
  EXPECT_EQ(s.state(1), ReceiverState::kDone);
  EXPECT_EQ(s.state(2), ReceiverState::kDone);
}

// A machine that joins while the last pass of a cycle ends (not Ready yet) has no part in it:
// no PassEnd, no failure for "missing" data; with --until the next cycle serves it, without it
// unicast does.
TEST(SenderCore, AJoinerNotReadyAtAPassEndWaitsForTheNextCycleUnderUntil) {
  for (const bool until : {true, false}) {
    Session s(until ? until_config(5000 * kMs) : config(1));
    start_session(s, 1);
    s.join(2, 15 * kMs);  // during pass 0
    s.core.on_pass_sent({32, 0}, 20 * kMs);
    auto ends = all_of<action::SendPassEnd>(s.drain());
    ASSERT_EQ(ends.size(), 1u) << "until " << until;
    EXPECT_EQ(ends[0].id, 1u);
    s.done(1, 21 * kMs);
    s.core.on_tick(21 * kMs);
    auto a = s.drain();
    if (!until) {
      // No next cycle: it is waited for, and served by unicast once it says Ready.
      EXPECT_TRUE(all_of<action::FailReceiver>(a).empty());
      EXPECT_FALSE(finished_with(a));
      EXPECT_EQ(s.core.phase(), SenderCore::Phase::kUnicastDrain);
      s.ready(2, 30 * kMs);
      auto feeds = all_of<action::StartUnicastFeed>(s.drain());
      ASSERT_EQ(feeds.size(), 1u);
      EXPECT_EQ(feeds[0].id, 2u);
      EXPECT_EQ(feeds[0].items.size(), size_t{kBlocks});
      EXPECT_EQ(s.core.receiver(2)->reason, "said Ready after the multicast passes ended");
      s.done(2, 40 * kMs);
      s.core.on_tick(40 * kMs);
      EXPECT_EQ(finished_with(s.drain()), SendOutcome::kAllVerified);
      continue;
    }
    EXPECT_TRUE(all_of<action::FailReceiver>(a).empty());
    EXPECT_EQ(s.core.phase(), SenderCore::Phase::kLinger);
    s.nak(2, control::kInitialPass, {{0, kBlocks, control::kMissingWholeBlock}}, 30 * kMs);
    s.ready(2, 30 * kMs);
    s.core.on_tick(30 * kMs);
    auto passes = all_of<action::StartPass>(s.drain());
    ASSERT_EQ(passes.size(), 1u);
    EXPECT_EQ(passes[0].ranges.size(), kBlocks);
  }
}

// The first pass does not wait for a receiver beyond the multicast's reach (its Ready, with no
// echo, comes when its beacon wait runs out): it starts kReadyQuietNs after the last Ready of one
// that heard the beacon, and the other is served by unicast when it says Ready.
TEST(SenderCore, TheFirstPassStartsWithoutWaitingForOneTheBeaconDoesNotReach) {
  SenderConfig c = config(3);
  c.answer_timeout_ns = 10'000 * kMs;
  Session s(c);
  for (uint32_t id = 1; id <= 3; ++id) s.join(id, kMs);
  s.core.on_tick(kMs);
  s.drain();
  s.ready(1, 10 * kMs);
  s.ready(2, 20 * kMs);
  EXPECT_EQ(s.core.next_deadline_ns(), 20 * kMs + kReadyQuietNs);
  s.core.on_tick(20 * kMs + kReadyQuietNs - 1);
  EXPECT_TRUE(all_of<action::StartPass>(s.drain()).empty());
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kAwaitReady);
  s.core.on_tick(20 * kMs + kReadyQuietNs);
  auto a = s.drain();
  ASSERT_EQ(all_of<action::StartPass>(a).size(), 1u);
  EXPECT_TRUE(all_of<action::FailReceiver>(a).empty());
  EXPECT_EQ(s.state(3), ReceiverState::kJoined);
  EXPECT_TRUE(s.core.awaiting_ready()) << "beacons go on for it";
  s.ready(3, 3000 * kMs, 0);  // its beacon wait ran out
  auto feeds = all_of<action::StartUnicastFeed>(s.drain());
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].id, 3u);
  EXPECT_TRUE(s.core.receiver(3)->unicast);
}

// ... and one that never says Ready fails at its own deadline, during the passes.
// Two receivers joined at 1 ms and started; Ready is awaited for up to 10 s.
Session two_awaiting_ready() {
  SenderConfig c = config(2);
  c.answer_timeout_ns = 10'000 * kMs;
  Session s(c);
  s.join(1, kMs);
  s.join(2, kMs);
  s.core.on_tick(kMs);
  return s;
}

TEST(SenderCore, OneNotReadyAfterAQuietStartFailsAtItsDeadline) {
  Session s = two_awaiting_ready();
  const uint64_t timeout = 10'000 * kMs;
  s.ready(1, 10 * kMs);
  s.core.on_tick(10 * kMs + kReadyQuietNs);
  ASSERT_EQ(all_of<action::StartPass>(s.drain()).size(), 1u);
  s.core.on_tick(kMs + timeout - 1);
  EXPECT_TRUE(all_of<action::FailReceiver>(s.drain()).empty());
  s.core.on_tick(kMs + timeout);
  auto fails = all_of<action::FailReceiver>(s.drain());
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].id, 2u);
  EXPECT_EQ(fails[0].reason, "did not confirm it joined the multicast group");
}

// Before anyone heard the beacon there is no quiet start: the deadline rules as before.
TEST(SenderCore, NoQuietStartWithoutAReceiverThatHeardTheBeacon) {
  Session s = two_awaiting_ready();
  s.ready(1, 10 * kMs, 0);  // beyond the multicast: served by unicast at once
  s.drain();
  s.core.on_tick(10 * kMs + 2 * kReadyQuietNs);
  EXPECT_TRUE(all_of<action::StartPass>(s.drain()).empty());
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kAwaitReady);
}

TEST(SenderCore, UntilWaitsPastMaxWaitForTheFirstReceiver) {
  Session s(until_config(10 * kMaxWait));
  s.core.on_tick(kMaxWait + kMs);
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kJoining);
  EXPECT_FALSE(finished_with(s.drain())) << "not 'nobody joined' while it is joinable";
  EXPECT_EQ(s.core.next_deadline_ns(), 10 * kMaxWait);
  s.join(1, 3 * kMaxWait);
  s.core.on_tick(3 * kMaxWait);
  EXPECT_EQ(all_of<action::Begin>(s.drain()).size(), 1u);
  // Without anyone by --until, it ends as before.
  Session nobody(until_config(2 * kMaxWait));
  nobody.core.on_tick(2 * kMaxWait);
  EXPECT_EQ(finished_with(nobody.drain()), SendOutcome::kNobodyJoined);
}

TEST(SenderCore, UntilRefusesLateJoinersAfterItAndFailsOnesThatNeverGetReady) {
  Session s(until_config(1000 * kMs));
  first_receiver_done(s);
  s.join(2, 500 * kMs);  // never says Ready
  s.core.on_tick(500 * kMs + kAnswerTimeout);
  auto fails = all_of<action::FailReceiver>(s.drain());
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].reason, "did not confirm it joined the multicast group");
  s.join(3, 1000 * kMs);
  fails = all_of<action::FailReceiver>(s.drain());
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].reason, "joined after --until closed the session to new receivers");
  s.core.on_tick(1000 * kMs);
  EXPECT_EQ(finished_with(s.drain()), SendOutcome::kSomeFailed);
}

TEST(SenderCore, ResumingReceiversGetOnlyWhatTheyLack) {
  Session s(config(2));
  s.join(1, kMs);
  s.join(2, kMs);
  s.core.on_tick(kMs);
  s.nak(1, control::kInitialPass, {{2, 2, control::kMissingWholeBlock}}, kMs);
  s.nak(2, control::kInitialPass, {{5, 1, control::kMissingWholeBlock}}, kMs);
  s.ready(1, kMs);
  s.ready(2, kMs);
  s.core.on_tick(2 * kMs);
  auto a = s.drain();
  EXPECT_TRUE(
      logged(a, "receivers already hold 5 of 8 blocks: the first pass sends only the rest"));
  auto passes = all_of<action::StartPass>(a);
  ASSERT_EQ(passes.size(), 1u);
  std::vector<uint32_t> blocks;
  for (const auto& r : passes[0].ranges) blocks.push_back(r.block);
  EXPECT_EQ(blocks, (std::vector<uint32_t>{2, 3, 5}));
}

TEST(SenderCore, NoSkipUnlessEveryReceiverReported) {
  Session s(config(2));
  s.join(1, kMs);
  s.join(2, kMs);
  s.core.on_tick(kMs);
  s.nak(1, control::kInitialPass, {{2, 2, control::kMissingWholeBlock}}, kMs);
  s.ready(1, kMs);
  s.ready(2, kMs);
  s.core.on_tick(2 * kMs);
  auto passes = all_of<action::StartPass>(s.drain());
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(passes[0].ranges.size(), kBlocks);
}

TEST(SenderCore, RejoinSupersedesTheFailedEntry) {
  Session s(config(1));
  start_session(s, 1);
  s.core.on_closed(1, "receiver restarted", 15 * kMs);
  EXPECT_EQ(s.state(1), ReceiverState::kFailed);
  s.core.on_joined(2, "rx1", "10.0.0.1:5001", "", 16 * kMs);
  EXPECT_EQ(s.state(1), ReceiverState::kSuperseded);
  s.drain();
  s.ready(2, 17 * kMs);
  s.core.on_tick(17 * kMs);
  // Pass 0 was started before the restart; it ends, and the new entry answers.
  s.core.on_pass_sent({32, 0}, 18 * kMs);
  auto ends = all_of<action::SendPassEnd>(s.drain());
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].id, 2u);
  s.done(2, 19 * kMs);
  s.core.on_tick(19 * kMs);
  auto a = s.drain();
  EXPECT_EQ(finished_with(a), SendOutcome::kAllVerified);
  auto events = all_of<action::Emit>(a);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().fields["ok"], 1);
  EXPECT_EQ(events.back().fields["failed"], 0);
}

TEST(SenderCore, UnexpectedMessageIsAProtocolError) {
  Session s(config(1));
  s.join(1, kMs);
  s.core.on_message(1, control::Hello{}, kMs);
  auto fails = all_of<action::FailReceiver>(s.drain());
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].reason, "protocol error: unexpected Hello");
}

// Issue #15 item 2: an insider can forge symbols for the group, never for another receiver's own
// connection. A Progress is answered with the sender's horizon (bounding the replay window); a
// Fetch with the blocks' source symbols over that receiver's connection.
TEST(SenderCore, AProgressReportIsAnsweredWithAHorizon) {
  Session s(config(1));
  start_session(s, 1);
  s.core.on_message(1, control::Progress{40, 40, {{2, 1, 1}}}, 12 * kMs);
  auto h = all_of<action::SendHorizon>(s.drain());
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].id, 1u);
}

TEST(SenderCore, AFetchIsAnsweredWithTheBlocksSourceSymbolsOverTheConnection) {
  Session s(config(2));
  start_session(s, 2);
  s.core.on_message(2, control::Fetch{{3, 6}}, 12 * kMs);
  auto a = s.drain();
  auto u = all_of<action::SendUnicastRepair>(a);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].id, 2u);
  EXPECT_EQ(strs(u[0].ranges), (std::vector<std::string>{"3:0+4", "6:0+4"}));
  EXPECT_TRUE(logged(a, "receiver rx2 fetches blocks over its connection"));
  EXPECT_EQ(s.core.receiver(2)->blocks_fetched, 2u);
  EXPECT_EQ(s.state(2), ReceiverState::kReady);
}

TEST(SenderCore, AFetchBeyondTheObjectIsAProtocolError) {
  Session s(config(2));
  start_session(s, 2);
  s.core.on_message(1, control::Fetch{{kBlocks}}, 12 * kMs);
  auto a = s.drain();
  EXPECT_TRUE(all_of<action::SendUnicastRepair>(a).empty());
  auto fails = all_of<action::FailReceiver>(a);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_NE(fails[0].reason.find("Fetch of block"), std::string::npos) << fails[0].reason;
  EXPECT_EQ(s.state(2), ReceiverState::kReady) << "the others go on";
}

// --- slow receivers (--slow-receiver) and acknowledged Done ---

TEST(SenderCore, SlowReceiverMovesToTheUnicastLaneWithExactlyItsNeeds) {
  SenderConfig c = config(3);
  c.unicast_budget_symbols = 0;  // rx2's repair goes multicast, so rows can be compared
  Session s(std::move(c));
  auto a = slow_after_pass0(s);
  const ReceiverRecord* rx3 = s.core.receiver(3);
  EXPECT_TRUE(rx3->unicast);
  EXPECT_TRUE(rx3->slow);
  EXPECT_EQ(rx3->reason,
            "slow: lacked 81% of the object after pass 0 (its port, disk or CPU is slower than "
            "--rate); served by unicast at the pace its connection takes");
  EXPECT_TRUE(logged(a, "receiver rx3 (10.0.0.3:5000) is slow: lacked 81%"));
  bool event = false;
  for (const auto& e : all_of<action::Emit>(a)) {
    if (e.name != "slow") continue;
    event = true;
    EXPECT_EQ(e.fields["receiver"], "rx3");
    EXPECT_EQ(e.fields["address"], "10.0.0.3:5000");
    EXPECT_EQ(e.fields["action"], "unicast");
    EXPECT_DOUBLE_EQ(e.fields["lacked_share"].get<double>(), 0.813);
  }
  EXPECT_TRUE(event);
  // Its feed: whole blocks as their source symbols, partial ones as fresh repair rows.
  auto feeds = all_of<action::StartUnicastFeed>(a);
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].id, 3u);
  EXPECT_EQ(feeds[0].pass, 1u);
  EXPECT_EQ(strs(feeds[0].items), (std::vector<std::string>{"0:0+4", "1:0+4", "2:0+4", "3:0+4",
                                                            "4:0+4", "5:4+3", "6:4+2", "7:4+1"}));
  // The next multicast pass carries only rx2's need, on a row rx3's feed did not use.
  auto passes = all_of<action::StartPass>(a);
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(strs(passes[0].ranges), std::vector<std::string>{"5:7+1"});
  s.core.on_pass_sent({1, 1, 0}, 30 * kMs);
  a = s.drain();
  auto ends = all_of<action::SendPassEnd>(a);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].id, 2u);  // not rx3: it left the multicast
  s.done(2, 31 * kMs);
  s.core.on_tick(31 * kMs);
  a = s.drain();
  EXPECT_TRUE(all_of<action::StartPass>(a).empty());
  EXPECT_FALSE(finished_with(a));
  EXPECT_EQ(s.core.phase(), SenderCore::Phase::kUnicastDrain);
  // The feed's PassEnd answered with Done: everyone verified.
  s.done(3, 40 * kMs);
  s.core.on_tick(40 * kMs);
  a = s.drain();
  auto acks = all_of<action::AckDone>(a);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].id, 3u);
  EXPECT_EQ(finished_with(a), SendOutcome::kAllVerified);
  EXPECT_EQ(s.core.passes(), 2u);
}

TEST(SenderCore, ASlowReceiverThatStillLacksAfterItsFeedGetsAnotherOne) {
  Session s(config(3));
  slow_after_pass0(s);
  // A block failed its hash after the feed: fed again with the next pass number.
  s.nak(3, 1, {{2, 1, control::kMissingWholeBlock}}, 40 * kMs);
  auto feeds = all_of<action::StartUnicastFeed>(s.drain());
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_EQ(feeds[0].pass, 2u);
  EXPECT_EQ(strs(feeds[0].items), std::vector<std::string>{"2:0+4"});
}

TEST(SenderCore, TheUnicastLaneFailsOnlyWhenItsPassesStopHelping) {
  Session s(config(3));  // --max-passes 5
  slow_after_pass0(s);
  // Seven lane passes that each leave less missing (a peer's share, a block that failed): fed on.
  for (uint32_t pass = 1; pass <= 7; ++pass) {
    s.nak(3, pass, {{0, 8 - pass, control::kMissingWholeBlock}}, (40 + pass) * kMs);
  }
  EXPECT_EQ(s.state(3), ReceiverState::kReady);
  EXPECT_EQ(all_of<action::StartUnicastFeed>(s.drain()).size(), 7u);
  // Then five that do not: it fails.
  for (uint32_t pass = 8; pass <= 12; ++pass) {
    s.nak(3, pass, {{0, 1, control::kMissingWholeBlock}}, (40 + pass) * kMs);
  }
  EXPECT_EQ(s.state(3), ReceiverState::kFailed);
  EXPECT_EQ(s.core.receiver(3)->reason,
            "still missing data after 5 unicast passes that did not shrink what it lacks");
}

TEST(SenderCore, EveryoneLackingALotIsNotSlow) {
  // Both lack 10 of 32 (31%): the rate is too high for the path, nobody is singled out.
  Session s(config(2));
  start_session(s, 2);
  s.core.on_pass_sent({32, 0, 0}, 20 * kMs);
  s.drain();
  const std::vector<control::NakRun> needs = {{0, 2, control::kMissingWholeBlock}, {2, 1, 2}};
  s.nak(1, 0, needs, 21 * kMs);
  s.nak(2, 0, needs, 21 * kMs);
  s.core.on_tick(21 * kMs);
  auto a = s.drain();
  EXPECT_TRUE(all_of<action::StartUnicastFeed>(a).empty());
  for (const auto& name : event_names(a)) EXPECT_NE(name, "slow");
  EXPECT_EQ(all_of<action::StartPass>(a).size(), 1u);
  EXPECT_FALSE(s.core.receiver(1)->unicast);
  EXPECT_FALSE(s.core.receiver(2)->unicast);
}

TEST(SenderCore, OneReceiverAloneIsNeverSlow) {
  Session s(config(1));
  start_session(s, 1);
  s.core.on_pass_sent({32, 0, 0}, 20 * kMs);
  s.drain();
  s.nak(1, 0, kSlowNeeds, 21 * kMs);
  s.core.on_tick(21 * kMs);
  auto a = s.drain();
  EXPECT_TRUE(all_of<action::StartUnicastFeed>(a).empty());
  EXPECT_TRUE(all_of<action::FailReceiver>(a).empty());
  EXPECT_EQ(all_of<action::StartPass>(a).size(), 1u);
  EXPECT_FALSE(s.core.receiver(1)->slow);
}

TEST(SenderCore, SlowReceiverDropFailsItAtOnce) {
  SenderConfig c = config(3);
  c.slow = SlowPolicy::kDrop;
  Session s(std::move(c));
  auto a = slow_after_pass0(s);
  auto fails = all_of<action::FailReceiver>(a);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].id, 3u);
  EXPECT_EQ(fails[0].reason,
            "too slow: lacked 81% of the object after pass 0 (--slow-receiver drop)");
  EXPECT_TRUE(all_of<action::StartUnicastFeed>(a).empty());
  s.core.on_pass_sent({0, 0, 0}, 30 * kMs);  // rx2's repair went by unicast
  s.drain();
  s.done(2, 30 * kMs);
  s.core.on_tick(30 * kMs);
  EXPECT_EQ(finished_with(s.drain()), SendOutcome::kSomeFailed);
}

TEST(SenderCore, SlowReceiverWaitLowersTheRateToWhatItReceived) {
  SenderConfig c = config(3);
  c.slow = SlowPolicy::kWait;
  c.rate_bps = 300'000'000;
  c.unicast_budget_symbols = 0;  // its repair goes multicast
  Session s(std::move(c));
  // rx3 took 6 of the pass's 32 frames: 300M x 6/32 = 56.25M.
  auto a = slow_after_pass0(s, 6);
  auto rates = all_of<action::SetRate>(a);
  ASSERT_EQ(rates.size(), 1u);
  EXPECT_EQ(rates[0].bps, 56'250'000u);
  EXPECT_EQ(s.core.rate_bps(), 56'250'000u);
  const ReceiverRecord* rx3 = s.core.receiver(3);
  EXPECT_FALSE(rx3->unicast);
  EXPECT_TRUE(rx3->multicast());
  EXPECT_TRUE(rx3->slow);
  EXPECT_TRUE(all_of<action::StartUnicastFeed>(a).empty());
  // It stays on multicast: the next pass repairs what it lacks (every block), and it is asked.
  auto passes = all_of<action::StartPass>(a);
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(passes[0].ranges.size(), kBlocks);
  s.core.on_pass_sent({26, 26, 56'250'000}, 30 * kMs);
  auto ends = all_of<action::SendPassEnd>(s.drain());
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[1].id, 3u);
}

TEST(SenderCore, ALateJoinerIsNotSlowForWhatWentBeforeIt) {
  SenderConfig c = config(2);
  c.slow = SlowPolicy::kDrop;  // a wrong verdict would fail it
  Session s(std::move(c));
  start_session(s, 2);  // pass 0 is running
  s.join(3, 15 * kMs);
  s.ready(3, 16 * kMs);
  s.core.on_pass_sent({32, 0, 0}, 20 * kMs);
  EXPECT_EQ(all_of<action::SendPassEnd>(s.drain()).size(), 3u);
  s.done(1, 21 * kMs);
  s.done(2, 21 * kMs);
  s.nak(3, 0, kSlowNeeds, 21 * kMs);
  s.core.on_tick(21 * kMs);
  auto a = s.drain();
  EXPECT_TRUE(all_of<action::FailReceiver>(a).empty());
  for (const auto& name : event_names(a)) EXPECT_NE(name, "slow");
  EXPECT_EQ(all_of<action::StartPass>(a).size(), 1u);  // it catches up by the repair passes
  EXPECT_FALSE(s.core.receiver(3)->slow);
}

TEST(SenderCore, SlowReceiverWaitNeverGoesBelowTheFloor) {
  SenderConfig c = config(3);
  c.slow = SlowPolicy::kWait;
  c.rate_bps = 2'000'000;
  Session s(std::move(c));
  auto rates = all_of<action::SetRate>(slow_after_pass0(s, 1));  // 2M x 1/32
  ASSERT_EQ(rates.size(), 1u);
  EXPECT_EQ(rates[0].bps, kSlowMinRateBps);
}

TEST(SenderCore, DoneIsAcknowledgedAtOnceWhileTheSessionGoesOn) {
  Session s(config(2));
  start_session(s, 2);
  s.core.on_pass_sent({32, 0, 0}, 20 * kMs);
  s.drain();
  s.done(1, 21 * kMs);
  auto a = s.drain();  // before any tick: the ack does not wait for the others
  auto acks = all_of<action::AckDone>(a);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].id, 1u);
  s.nak(2, 0, {{3, 1, 1}}, 22 * kMs);
  s.core.on_tick(22 * kMs);
  a = s.drain();
  EXPECT_FALSE(finished_with(a));
  EXPECT_TRUE(all_of<action::AckDone>(a).empty());
  EXPECT_EQ(all_of<action::StartPass>(a).size(), 1u);
  // A failed Done is no ack: the receiver fails.
  control::Done bad;
  bad.ok = false;
  bad.reason = "disk full";
  s.core.on_message(2, bad, 23 * kMs);
  a = s.drain();
  EXPECT_TRUE(all_of<action::AckDone>(a).empty());
  EXPECT_EQ(all_of<action::FailReceiver>(a).size(), 1u);
}

// Repair during a pass: Progress reports in, fresh rows out between windows.
class Interleaved : public ::testing::Test {
 protected:
  Interleaved() : s(config(2)) {
    start_session(s, 2);                                            // pass 0 is running
    for (uint32_t b = 0; b < kBlocks; ++b) sent[b] = (b + 1) * 10;  // block b's frames: < 10(b+1)
  }
  // A report from `id` having seen sequence `seq` and `frames` data frames in all.
  void progress(uint32_t id, uint32_t seq, uint64_t frames, std::vector<control::NakRun> runs) {
    s.core.on_message(id, control::Progress{seq, frames, std::move(runs)}, 15 * kMs);
  }
  // Two reports: the first sets the delivery baseline, the second (all frames received) counts.
  void measured(uint32_t id, uint32_t seq, std::vector<control::NakRun> runs) {
    progress(id, 100, 100, {});
    progress(id, seq, seq, std::move(runs));
  }
  std::vector<std::string> take() {
    std::vector<RepairRange> out;
    s.core.take_interleaved_repair(sent, out);
    return strs(out);
  }
  Session s;
  std::vector<uint32_t> sent = std::vector<uint32_t>(kBlocks);
};

TEST_F(Interleaved, BlocksWhoseFramesAllPrecedeTheReportGetMaxMissingFreshRows) {
  sent[6] = 390;  // block 6 was sent up to sequence 389: in flight for a report at 400
  measured(1, 400, {{1, 1, 2}, {6, 1, 1}});
  measured(2, 400, {{1, 1, 3}});
  EXPECT_EQ(take(), std::vector<std::string>{"1:4+3"});  // rows k.. : fresh to everyone
  EXPECT_EQ(s.core.interleaved_symbols(), 3u);
  EXPECT_TRUE(take().empty()) << "a report is used once";

  // The pass ends; both still lack one symbol of block 1: the repair pass takes the next fresh
  // row, past the three sent during the pass.
  s.core.on_pass_sent({40, 3}, 20 * kMs);
  s.drain();
  s.nak(1, 0, {{1, 1, 1}}, 21 * kMs);
  s.nak(2, 0, {{1, 1, 1}}, 21 * kMs);
  s.core.on_tick(21 * kMs);
  auto passes = all_of<action::StartPass>(s.drain());
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(strs(passes[0].ranges), std::vector<std::string>{"1:7+1"});
}

TEST_F(Interleaved, ALossyOrUnmeasuredReceiverGetsNoneAndThePassEndDecides) {
  progress(1, 400, 400, {{2, 1, 1}});  // the first report: delivery not measured yet
  EXPECT_TRUE(take().empty());
  progress(2, 100, 100, {});
  progress(2, 1100, 100 + 850, {{3, 2, 4}});  // 85% delivered: perhaps slow
  EXPECT_TRUE(take().empty());
  EXPECT_EQ(s.core.interleaved_symbols(), 0u);
  progress(1, 1400, 1400, {{2, 1, 1}});  // rx1 measured now: 100%
  EXPECT_EQ(take(), std::vector<std::string>{"2:4+1"});
}

// The pass waits for a piped object's next block and has sent nothing for a while: every
// receiver's last report counts (no frame is in flight, none will come), the lossy one's too,
// and only the lowest blocks go out, which the spool waits for.
TEST_F(Interleaved, AQuietStepServesEveryLastReportLossyOrNotLowestBlocksFirst) {
  progress(1, 400, 400, {{2, 1, 1}});  // unmeasured
  progress(2, 100, 100, {});
  progress(2, 1100, 100 + 850, {{3, 2, 4}});  // 85% delivered
  EXPECT_TRUE(take().empty());
  std::vector<RepairRange> out;
  s.core.take_interleaved_repair(sent, out, true);
  EXPECT_EQ(strs(out), (std::vector<std::string>{"2:4+1", "3:4+4", "4:4+4"}));
  out.clear();
  s.core.take_interleaved_repair(sent, out, true);
  EXPECT_EQ(strs(out), (std::vector<std::string>{"2:5+1", "3:8+4", "4:8+4"}))
      << "no new report: the last ones stand, with fresh rows";
}

TEST(InterleavedQuiet, SendsTheLowestBlocksOnly) {
  constexpr uint32_t kMany = kMaxQuietRepairBlocks + 8;
  SenderConfig c = config(2);
  c.block_k.assign(kMany, kK);
  Session s(c);
  start_session(s, 2);
  const std::vector<uint32_t> sent(kMany, 1);
  s.core.on_message(1, control::Progress{1, 1, {{0, kMany, 1}}}, 15 * kMs);
  s.core.on_message(2, control::Progress{1, 1, {{4, kMany - 4, 2}}}, 15 * kMs);
  std::vector<RepairRange> out;
  s.core.take_interleaved_repair(sent, out, true);
  ASSERT_EQ(out.size(), kMaxQuietRepairBlocks);
  for (uint32_t b = 0; b < kMaxQuietRepairBlocks; ++b) {
    EXPECT_EQ(out[b].block, b);
    EXPECT_EQ(out[b].count, b < 4 ? 1 : 2) << "block " << b;
  }
}

TEST(ProgressInterval, GrowsWithTheReceiversSoTheSenderTakesABoundedRate) {
  EXPECT_EQ(progress_interval_ms(1), 25u);
  EXPECT_EQ(progress_interval_ms(100), 25u);
  EXPECT_EQ(progress_interval_ms(1000), 250u);
  EXPECT_EQ(progress_interval_ms(10'000), 2500u);
  EXPECT_EQ(progress_interval_ms(10'000'000), 60'000u);
  for (size_t n : {size_t{200}, size_t{5000}, size_t{100'000}}) {
    EXPECT_LE(double(n) * 1000 / progress_interval_ms(n), kProgressBudgetPerSecond * 1.01) << n;
  }
}

TEST_F(Interleaved, ReportsOutsideAPassAreIgnored) {
  measured(1, 400, {{1, 1, 2}});
  s.core.on_pass_sent({40, 0}, 20 * kMs);  // the pass ended before the window boundary
  s.drain();
  EXPECT_TRUE(take().empty());
  progress(1, 500, 500, {{1, 1, 2}});  // answering phase: the NAK says it
  EXPECT_TRUE(take().empty());
}

}  // namespace
}  // namespace shoal::session
