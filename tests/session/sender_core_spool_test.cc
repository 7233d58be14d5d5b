// SenderCore and a piped object's bounded spool (send - --size): the frontier every receiver has
// passed, receivers that ask for what the spool let go, a laggard that holds the spool full, and
// a pipe that ends early.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "session/sender_core.h"
#include "tests/session/sender_core_harness.h"

namespace shoal::session {
namespace {

using namespace core_test;  // NOLINT: the harness is these tests' vocabulary

constexpr uint64_t kSpool = 64;  // bytes, for on_spool: only the ratios matter

void progress(Session& s, uint32_t id, uint32_t complete_below,
              std::vector<control::NakRun> runs = {}, uint64_t now = 15 * kMs) {
  s.core.on_message(id, control::Progress{100, 100, std::move(runs), complete_below}, now);
}

std::string reason_of(const Session& s, uint32_t id) {
  return s.core.receiver(id)->reason;
}

TEST(SpoolFrontier, IsTheLeastCompleteBlockOfTheReceiversStillTakingPart) {
  Session s(config(3));
  start_session(s, 3);
  EXPECT_EQ(s.core.spool_frontier(), 0u) << "nobody has reported anything";
  progress(s, 1, 5);
  progress(s, 2, 3);
  progress(s, 3, 7);
  EXPECT_EQ(s.core.spool_frontier(), 3u);
  progress(s, 2, 1);
  EXPECT_EQ(s.core.spool_frontier(), 3u) << "a report never moves a receiver back";
  s.done(2, 16 * kMs);
  EXPECT_EQ(s.core.spool_frontier(), 5u) << "a receiver done needs nothing more";
  s.core.on_closed(1, "gone", 17 * kMs);
  EXPECT_EQ(s.core.spool_frontier(), 7u) << "nor does one that failed";
  s.done(3, 18 * kMs);
  EXPECT_EQ(s.core.spool_frontier(), kBlocks);
}

TEST(SpoolReleased, AReceiverThatAsksForAReleasedBlockFailsAlone) {
  Session s(config(3));
  start_session(s, 3);
  for (uint32_t id = 1; id <= 3; ++id) progress(s, id, 4);
  s.core.on_spool_released(4);
  s.drain();
  progress(s, 1, 2, {{2, 1, 1}});  // block 2 failed its hash late: wanted again
  s.nak(2, 0, {{5, 1, 1}}, 20 * kMs);
  s.core.on_message(3, control::Fetch{{3}}, 20 * kMs);
  auto a = s.drain();
  EXPECT_EQ(s.state(1), ReceiverState::kFailed);
  EXPECT_NE(reason_of(s, 1).find("needs block 2 again"), std::string::npos) << reason_of(s, 1);
  EXPECT_NE(s.state(2), ReceiverState::kFailed) << "block 5 is still in the spool";
  EXPECT_EQ(s.state(3), ReceiverState::kFailed);
  EXPECT_NE(reason_of(s, 3).find("let go"), std::string::npos) << reason_of(s, 3);
  EXPECT_EQ(all_of<action::FailReceiver>(a).size(), 2u);
  EXPECT_TRUE(all_of<action::SendUnicastRepair>(a).empty())
      << "nothing is read from released blocks";
}

TEST(SpoolPressed, TheReceiversAtTheFrontierFailAfterTheAnswerTimeoutTheOthersGoOn) {
  Session s(config(3));
  start_session(s, 3);
  progress(s, 1, 2);
  progress(s, 2, 6);
  progress(s, 3, 2);
  const uint64_t t0 = 20 * kMs;
  s.core.on_spool(kSpool, kSpool, true, t0);
  s.core.on_spool(kSpool, kSpool, true, t0 + kAnswerTimeout - 1);
  EXPECT_TRUE(all_of<action::FailReceiver>(s.drain()).empty());
  // The laggards free a little now and then: the reader goes on a moment, the spool stays full.
  s.core.on_spool(kSpool - 4, kSpool, false, t0 + kAnswerTimeout);
  auto a = s.drain();
  EXPECT_EQ(all_of<action::FailReceiver>(a).size(), 2u);
  EXPECT_EQ(s.state(1), ReceiverState::kFailed);
  EXPECT_EQ(s.state(3), ReceiverState::kFailed);
  EXPECT_NE(reason_of(s, 1).find("fell a spool behind"), std::string::npos) << reason_of(s, 1);
  EXPECT_EQ(s.state(2), ReceiverState::kReady);
  EXPECT_EQ(s.core.spool_frontier(), 6u);
}

TEST(SpoolPressed, ASpoolWithAQuarterFreeAgainStartsTheWaitAfresh) {
  Session s(config(2));
  start_session(s, 2);
  progress(s, 1, 2);
  progress(s, 2, 6);
  const uint64_t t0 = 20 * kMs;
  s.core.on_spool(kSpool, kSpool, true, t0);
  s.core.on_spool(kSpool / 2, kSpool, false, t0 + kAnswerTimeout / 2);  // caught up
  s.core.on_spool(kSpool, kSpool, true, t0 + kAnswerTimeout - 1);
  s.core.on_spool(kSpool, kSpool, true, t0 + kAnswerTimeout + 1);
  EXPECT_TRUE(all_of<action::FailReceiver>(s.drain()).empty())
      << "full again only since t0 + timeout - 1";
  s.core.on_spool(kSpool, kSpool, true, t0 + 2 * kAnswerTimeout);
  EXPECT_EQ(all_of<action::FailReceiver>(s.drain()).size(), 1u);
  EXPECT_EQ(s.state(1), ReceiverState::kFailed);
}

TEST(SpoolPressed, NotWhileNoPassRuns) {
  Session s(config(1));
  s.join(1, 1 * kMs);
  s.core.on_spool(kSpool, kSpool, true, 2 * kMs);  // joining: the reader fills the spool ahead
  s.core.on_spool(kSpool, kSpool, true, 2 * kMs + 2 * kAnswerTimeout);
  EXPECT_TRUE(all_of<action::FailReceiver>(s.drain()).empty());
  EXPECT_EQ(s.state(1), ReceiverState::kJoined);
}

TEST(SourceFailed, EveryReceiverNotDoneFailsAndTheSessionEndsInError) {
  Session s(config(3));
  start_session(s, 3);
  s.done(3, 15 * kMs);
  s.drain();
  s.core.on_source_failed("stdin ended after 10 bytes", 20 * kMs);
  auto a = s.drain();
  EXPECT_EQ(all_of<action::FailReceiver>(a).size(), 2u);
  EXPECT_NE(reason_of(s, 1).find("stdin ended after 10 bytes"), std::string::npos);
  EXPECT_EQ(s.state(3), ReceiverState::kDone);
  EXPECT_EQ(finished_with(a), SendOutcome::kError);
  EXPECT_TRUE(s.core.finished());
}

}  // namespace
}  // namespace shoal::session
