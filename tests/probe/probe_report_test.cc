#include "probe/probe_report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "probe/probe_svg.h"

namespace shoal::probe {
namespace {

ReceiverStep got(uint64_t received) {
  ReceiverStep r;
  r.answered = true;
  r.received = received;
  r.has_delay = received > 0;
  r.delay_min_ns = 100;
  r.delay_max_ns = received > 0 ? 400 : 100;
  return r;
}

StepResult step(uint32_t id, StepKind kind, uint64_t rate, uint64_t sent,
                std::vector<ReceiverStep> rx, bool pass = true) {
  StepResult s;
  s.step = id;
  s.kind = kind;
  s.phase = kind == StepKind::kSearch ? "up" : "";
  s.target_bps = s.offered_bps = rate;
  s.frame_bytes = kind == StepKind::kMtuLarge ? 8972 : kind == StepKind::kMtuSmall ? 1400 : 1440;
  s.frames_sent = sent;
  s.seconds = 1;
  s.receivers = std::move(rx);
  s.pass = pass;
  return s;
}

// Two receivers: "a" fine, "b<&>" hears no multicast. A multicast policer: multicast at 400M
// loses 50%, unicast at 400M loses nothing. Jumbo frames are dropped, 1400-byte ones pass.
ProbeResult sample() {
  ProbeResult p;
  p.group = "239.1.2.3:9000";
  p.loss_threshold = 0.001;
  p.headroom = 0.9;
  ReceiverInfo a, b;
  a.name = "a";
  a.address = "198.18.0.101";
  a.joined = a.heard = true;
  a.iface = "v0";
  a.iface_ipv4 = 0xC6120065;  // 198.18.0.101
  b.name = "b<&>";
  b.address = "198.18.0.102";
  b.joined = true;
  b.iface = "eth1";
  b.iface_ipv4 = 0x0A000002;  // 10.0.0.2: not the address it connects from
  p.receivers = {a, b};
  p.steps = {step(1, StepKind::kSearch, 100'000'000, 1000, {got(1000), got(0)}),
             step(2, StepKind::kSearch, 200'000'000, 2000, {got(2000), got(0)}),
             step(3, StepKind::kSearch, 400'000'000, 4000, {got(2000), got(0)}, false),
             step(4, StepKind::kReference, 400'000'000, 2000, {got(1000), got(0)}),
             step(5, StepKind::kUnicast, 400'000'000, 2000, {got(2000), ReceiverStep{}}),
             step(6, StepKind::kUnicast, 400'000'000, 2000, {ReceiverStep{}, got(1990)}),
             step(7, StepKind::kMtuSmall, 50'000'000, 200, {got(200), got(0)}),
             step(8, StepKind::kMtuLarge, 50'000'000, 200, {got(3), got(0)})};
  p.steps[4].unicast_to = 0;
  p.steps[5].unicast_to = 1;
  p.max_ok_bps = 200'000'000;
  p.first_bad_bps = 400'000'000;
  p.limit = SearchLimit::kNetwork;
  diagnose(p);
  return p;
}

TEST(ProbeReport, RecommendsTheHeadroomShareOfTheKnee) {
  ProbeResult p = sample();
  EXPECT_EQ(p.recommended_bps, 180'000'000u);
  EXPECT_NE(p.verdict.find("200"), std::string::npos) << p.verdict;
  EXPECT_NE(p.verdict.find("--rate 180M"), std::string::npos) << p.verdict;
}

TEST(ProbeReport, NamesMulticastSpecificLoss) {
  ProbeResult p = sample();
  EXPECT_DOUBLE_EQ(p.receivers[0].reference_loss, 0.5);
  EXPECT_DOUBLE_EQ(p.receivers[0].unicast_loss, 0.0);
  EXPECT_NE(p.receivers[0].unicast_verdict.find("multicast-specific"), std::string::npos)
      << p.receivers[0].unicast_verdict;
}

TEST(ProbeReport, RefusesToCompareStepsAtDifferentRates) {
  ProbeResult p = sample();
  p.steps[4].offered_bps = 300'000'000;  // the unicast step fell short of the reference's rate
  diagnose(p);
  EXPECT_NE(p.receivers[0].unicast_verdict.find("not comparable"), std::string::npos)
      << p.receivers[0].unicast_verdict;
}

TEST(ProbeReport, ExplainsASilentReceiver) {
  ProbeResult p = sample();
  const ReceiverInfo& b = p.receivers[1];
  EXPECT_NE(b.unicast_verdict.find("unicast reaches it"), std::string::npos) << b.unicast_verdict;
  bool querier = false, iface = false;
  for (const auto& h : b.hints) {
    querier |= h.find("querier") != std::string::npos;
    iface |= h.find("--iface") != std::string::npos && h.find("eth1") != std::string::npos;
  }
  EXPECT_TRUE(querier);
  EXPECT_TRUE(iface);
  // The working receiver gets no such hints.
  for (const auto& h : p.receivers[0].hints) EXPECT_EQ(h.find("querier"), std::string::npos);
}

TEST(ProbeReport, FlagsJumboFramesDroppedWhileSmallOnesPass) {
  ProbeResult p = sample();
  EXPECT_NE(p.receivers[0].mtu_verdict.find("dropped"), std::string::npos)
      << p.receivers[0].mtu_verdict;
  EXPECT_NE(p.receivers[0].mtu_verdict.find("9000"), std::string::npos);  // 8972 + 28
  EXPECT_NE(p.receivers[1].mtu_verdict.find("hears no multicast"), std::string::npos);
  p.steps[6].receivers[0] = got(20);  // small frames lost too: nothing to conclude
  diagnose(p);
  EXPECT_NE(p.receivers[0].mtu_verdict.find("inconclusive"), std::string::npos);
}

TEST(ProbeReport, JsonRoundTripsThroughTheSavedProbeReader) {
  ProbeResult p = sample();
  const std::string path = testing::TempDir() + "probe_report_test_" + std::to_string(getpid());
  std::ofstream(path) << to_json(p).dump(2);
  auto saved = read_probe_file(path);
  ASSERT_TRUE(saved.ok()) << saved.error();
  EXPECT_EQ(saved->recommended_bps, p.recommended_bps);
  EXPECT_EQ(saved->max_ok_bps, p.max_ok_bps);

  p.max_ok_bps = 0;
  diagnose(p);
  std::ofstream(path) << to_json(p).dump(2);
  EXPECT_FALSE(read_probe_file(path).ok());  // nothing passed: no recommendation to use
  std::ofstream(path) << "{\"not\": \"a probe\"}";
  EXPECT_FALSE(read_probe_file(path).ok());
  std::ofstream(path) << "garbage";
  EXPECT_FALSE(read_probe_file(path).ok());
  std::remove(path.c_str());
  EXPECT_FALSE(read_probe_file(path).ok());
}

TEST(ProbeReport, CsvHasOneRowPerAnsweredReceiverStep) {
  ProbeResult p = sample();
  const std::string csv = to_csv(p);
  size_t rows = 0, answered = 0;
  for (char c : csv) rows += c == '\n';
  for (const auto& s : p.steps)
    for (const auto& r : s.receivers) answered += r.answered;
  EXPECT_EQ(rows, answered + 1);  // plus the header
  EXPECT_NE(csv.find("\"b<&>\""), std::string::npos);
}

TEST(ProbeSvg, IsAnEscapedSelfContainedDocument) {
  ProbeResult p = sample();
  const std::string svg = render_probe_svg(p);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("b<&>"), std::string::npos);  // the raw name would break the XML
  EXPECT_NE(svg.find("b&lt;&amp;&gt;"), std::string::npos);
  EXPECT_NE(svg.find("knee 200.0 Mbit/s"), std::string::npos);
  EXPECT_NE(svg.find("recommended 180 Mbit/s"), std::string::npos);
  EXPECT_EQ(render_probe_svg(p), svg);  // deterministic
}

}  // namespace
}  // namespace shoal::probe
