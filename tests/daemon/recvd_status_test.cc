// What `shoal recvd` reports for monitoring (#17 item 5): counters, bytes, running sessions, the
// last success and failure, as Prometheus text and as the status document.
#include "daemon/recvd_status.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

namespace shoal::daemon {
namespace {

constexpr uint64_t kS = 1'000'000'000;
constexpr uint64_t kT0 = 1'780'000'000 * kS;  // 2026-05-28, a wall-clock instant

// The value of one sample line of `metrics` ("" when absent).
std::string sample(const std::string& metrics, const std::string& name) {
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return line.substr(name.size() + 1);
  }
  return "";
}

RecvdSession image(uint64_t id) {
  return {id, "node.img", "/srv/node.img", "198.18.0.1:9100", 1000};
}

TEST(RecvdStatus, EveryOutcomeIsListedAtZeroBeforeAnything) {
  RecvdStatus st(42, "239.255.0.2:9001", kT0);
  const std::string m = st.metrics();
  for (const char* o : {"started", "verified", "failed", "abandoned", "refused"}) {
    EXPECT_EQ(
        sample(m, std::string("shoal_recvd_events_total{event=\"session\",outcome=\"") + o + "\"}"),
        "0")
        << o;
  }
  EXPECT_EQ(sample(m, "shoal_recvd_last_success_timestamp_seconds"), "0");
  EXPECT_EQ(sample(m, "shoal_recvd_received_bytes_total"), "0");
  const nlohmann::json s = st.status(kT0 + kS);
  EXPECT_EQ(s["pid"], 42);
  EXPECT_EQ(s["state"], "listening");
  EXPECT_TRUE(s["running"].empty());
  EXPECT_TRUE(s["last_success"].is_null());
  EXPECT_EQ(s["totals"]["sessions"]["verified"], 0);
  // Every sample line is `name{labels} value`.
  std::istringstream in(m);
  const std::regex line_re(R"(^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$)");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(std::regex_match(line, line_re)) << line;
  }
}

TEST(RecvdStatus, AVerifiedSessionCountsItsBytesAndIsTheLastSuccess) {
  RecvdStatus st(1, "239.255.0.2:9001", kT0);
  const nlohmann::json start = st.on_session_started(100, image(0xab), kT0 + 1 * kS);
  EXPECT_EQ(start["session_id"], "00000000000000ab");
  EXPECT_EQ(start["dest"], "/srv/node.img");
  EXPECT_EQ(st.running(), 1u);
  EXPECT_EQ(st.status(kT0 + 2 * kS)["running"][0]["object"], "node.img");
  EXPECT_EQ(sample(st.metrics(), "shoal_recvd_sessions_running"), "1");

  RecvdSessionEnd end;
  end.outcome = RecvdSessionEnd::Outcome::kVerified;
  end.sha256 = std::string(64, 'a');
  end.bytes_written = 800;  // 200 resumed from an earlier run
  const nlohmann::json fields = st.on_session_ended(100, end, kT0 + 5 * kS);
  EXPECT_EQ(fields["outcome"], "verified");
  EXPECT_DOUBLE_EQ(fields["seconds"].get<double>(), 4.0);
  EXPECT_EQ(fields["sha256"], end.sha256);
  EXPECT_EQ(st.running(), 0u);

  const std::string m = st.metrics();
  EXPECT_EQ(sample(m, "shoal_recvd_events_total{event=\"session\",outcome=\"verified\"}"), "1");
  EXPECT_EQ(sample(m, "shoal_recvd_events_total{event=\"session\",outcome=\"started\"}"), "1");
  EXPECT_EQ(sample(m, "shoal_recvd_received_bytes_total"), "800");
  EXPECT_EQ(sample(m, "shoal_recvd_last_success_timestamp_seconds"),
            std::to_string((kT0 + 5 * kS) / kS));
  EXPECT_EQ(sample(m, "shoal_recvd_last_failure_timestamp_seconds"), "0");
  const nlohmann::json s = st.status(kT0 + 6 * kS);
  EXPECT_EQ(s["totals"]["bytes_received"], 800);
  EXPECT_EQ(s["last_success"]["dest"], "/srv/node.img");
  EXPECT_EQ(s["last_success"]["time"], "2026-05-28T20:26:45.000Z");
  EXPECT_TRUE(s["last_failure"].is_null());
}

TEST(RecvdStatus, AFailureIsTheLastFailureAndAnAbandonedSessionIsNeither) {
  RecvdStatus st(1, "239.255.0.2:9001", kT0);
  st.on_session_started(7, image(1), kT0);
  st.on_session_started(8, image(2), kT0);
  RecvdSessionEnd failed;
  failed.reason = "disk full";
  failed.bytes_written = 50;
  st.on_session_ended(7, failed, kT0 + 3 * kS);
  RecvdSessionEnd abandoned;
  abandoned.outcome = RecvdSessionEnd::Outcome::kAbandoned;
  abandoned.reason = "signal 15";
  st.on_stopping();
  st.on_session_ended(8, abandoned, kT0 + 9 * kS);
  const nlohmann::json s = st.status(kT0 + 10 * kS);
  EXPECT_EQ(s["state"], "stopping");
  EXPECT_EQ(s["last_failure"]["reason"], "disk full");
  EXPECT_EQ(s["last_failure"]["session_id"], "0000000000000001");
  EXPECT_TRUE(s["last_success"].is_null());
  EXPECT_EQ(s["totals"]["sessions"]["failed"], 1);
  EXPECT_EQ(s["totals"]["sessions"]["abandoned"], 1);
  EXPECT_EQ(s["totals"]["bytes_received"], 50);
  EXPECT_EQ(sample(st.metrics(), "shoal_recvd_last_failure_timestamp_seconds"),
            std::to_string((kT0 + 3 * kS) / kS));
}

TEST(RecvdStatus, HooksRefusalsAndAnnouncementsAreCounted) {
  RecvdStatus st(1, "239.255.0.2:9001", kT0);
  EXPECT_EQ(st.on_hook_ended("/srv/a", false)["outcome"], "failed");
  st.on_hook_ended("/srv/a", true);
  st.on_refused();
  st.on_announcement("stale");
  st.on_announcement("rejected");
  st.on_announcement("rejected");
  const nlohmann::json t = st.status(kT0)["totals"];
  EXPECT_EQ(t["hooks"]["ok"], 1);
  EXPECT_EQ(t["hooks"]["failed"], 1);
  EXPECT_EQ(t["sessions"]["refused"], 1);
  EXPECT_EQ(t["announcements"]["rejected"], 2);
  EXPECT_EQ(t["announcements"]["stale"], 1);
  // A child that is not a running session changes nothing.
  EXPECT_TRUE(st.on_session_ended(999, RecvdSessionEnd{}, kT0).empty());
  EXPECT_EQ(st.status(kT0)["totals"]["sessions"]["failed"], 0);
}

}  // namespace
}  // namespace shoal::daemon
