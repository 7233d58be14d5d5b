// The relay's pure parts: what the downstream session sends, taken from the upstream's session
// header, and the exit status that covers both sides.
#include "relay/relay.h"

#include <gtest/gtest.h>

namespace shoal::relay {
namespace {

control::Session upstream_session() {
  control::Session s;
  s.object_size = 123'456'789;
  s.object_name = "image.raw";
  s.object_format = control::kObjectFormatZstd;
  s.k = 32;
  s.symbol_size = 8896;
  return s;
}

TEST(DownstreamOptions, TakesTheObjectAndTheUpstreamLayout) {
  RelayOptions o;
  o.downstream.rate_bps = 300'000'000;
  o.downstream.group = "239.9.9.9";
  const session::SendOptions d = downstream_options(o, upstream_session(), 17);
  EXPECT_EQ(d.path, "-");
  EXPECT_EQ(d.pipe_fd, 17);
  EXPECT_EQ(d.pipe_size, 123'456'789u);
  EXPECT_EQ(d.pipe_format, control::kObjectFormatZstd);
  EXPECT_EQ(d.object_name, "image.raw");
  // Same blocks as upstream: a receiver resumes from one to the other.
  EXPECT_EQ(d.k, 32u);
  EXPECT_EQ(d.symbol_size, 8896u);
  EXPECT_TRUE(d.symbol_size_given);
  // The relay's own segment settings stay.
  EXPECT_EQ(d.rate_bps, 300'000'000u);
  EXPECT_EQ(d.group, "239.9.9.9");
  EXPECT_NE(d.pipe_naming.input.find("upstream"), std::string::npos);
}

TEST(DownstreamOptions, KeepsWhatTheOperatorGave) {
  RelayOptions o;
  o.downstream.object_name = "renamed.raw";
  o.downstream.k = 128;
  o.fec_given = true;
  o.downstream.symbol_size = 1408;
  o.downstream.symbol_size_given = true;
  const session::SendOptions d = downstream_options(o, upstream_session(), 3);
  EXPECT_EQ(d.object_name, "renamed.raw");
  EXPECT_EQ(d.k, 128u);
  EXPECT_EQ(d.symbol_size, 1408u);
}

TEST(RelayExitStatus, CoversBothSides) {
  RelayResult r;
  r.upstream = {true, false, ""};
  r.downstream = session::SendResult{session::SendOutcome::kAllVerified, {}, 0};
  EXPECT_EQ(exit_status(r), 0);
  // Every downstream receiver verified, but the relay's own upstream copy did not end well.
  r.upstream = {false, false, "lost the connection to the sender"};
  EXPECT_EQ(exit_status(r), 1);
  r.upstream = {true, false, ""};
  r.downstream->outcome = session::SendOutcome::kSomeFailed;
  EXPECT_EQ(exit_status(r), 1);
  r.downstream->outcome = session::SendOutcome::kBadInput;
  EXPECT_EQ(exit_status(r), 2);
  r.downstream->outcome = session::SendOutcome::kAborted;
  r.downstream->stop_signal = 15;
  EXPECT_EQ(exit_status(r), 143);
}

TEST(RelayExitStatus, UpstreamFailingBeforeItsSessionEndsTheRelay) {
  RelayResult r;
  r.upstream = {false, false, "could not reach the sender"};
  EXPECT_EQ(exit_status(r), 1);
  r.upstream = {false, true, "--from-iface: no such interface"};
  EXPECT_EQ(exit_status(r), 2);
}

TEST(RelayOutcome, NamesEveryReceiverAndWhyTheSegmentFailed) {
  session::SendResult r;
  r.outcome = session::SendOutcome::kAllVerified;
  r.receivers = {{"n7", "10.9.0.7:4000", true, false, "", ""},
                 {"n8", "10.9.0.8:4000", true, true, "", ""}};
  session::RelayOutcome o = relay_outcome(r);
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.reason, "");
  ASSERT_EQ(o.receivers.size(), 2u);
  EXPECT_EQ(o.receivers[1], (control::Downstream{"n8", "10.9.0.8:4000", true, ""}));

  r.outcome = session::SendOutcome::kSomeFailed;
  r.receivers.push_back({"n9", "", false, false, "expected (--hosts) but never joined", ""});
  o = relay_outcome(r);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.reason, "1 of 3 receivers of its segment failed");
  EXPECT_EQ(o.receivers.back().reason, "expected (--hosts) but never joined");

  r.outcome = session::SendOutcome::kNobodyJoined;
  r.receivers.clear();
  o = relay_outcome(r);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.reason, "no receiver of its segment joined it");

  r.outcome = session::SendOutcome::kAborted;
  r.receivers = {{"n7", "10.9.0.7:4000", false, false, "the session was aborted", ""}};
  o = relay_outcome(r);
  EXPECT_EQ(o.reason,
            "the relay was stopped before its segment was done; 1 of its receivers failed");
}

}  // namespace
}  // namespace shoal::relay
