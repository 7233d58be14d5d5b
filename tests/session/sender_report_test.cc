// The sender's reports over fabricated receiver records: the --json summary's fields for done,
// failed and unicast receivers, the table's lines, and the Prometheus text.
#include "session/sender_report.h"

#include <gtest/gtest.h>

namespace shoal::session {
namespace {

constexpr uint64_t kS = 1'000'000'000;

ReceiverRecord record(uint32_t id, const std::string& name, ReceiverState state) {
  ReceiverRecord r;
  r.id = id;
  r.name = name;
  r.addr = "10.0.0." + std::to_string(id) + ":5000";
  r.state = state;
  return r;
}

class SenderReport : public ::testing::Test {
 protected:
  void SetUp() override {
    totals.object_name = "disk.img";
    totals.object_bytes = 1'000'000;
    totals.session_id = 42;
    totals.passes = 2;
    totals.frames_sent = 800;
    totals.repair_frames = 10;
    totals.symbol_size = 1000;
    totals.data_start_ns = 10 * kS;
    totals.end_ns = 14 * kS;

    ReceiverRecord done = record(1, "rx1", ReceiverState::kDone);
    done.done_ns = 12 * kS;
    done.frames_sent = 800;
    done.frames_received = 790;
    done.identity = "rx1.example";
    ReceiverRecord failed = record(2, "rx2", ReceiverState::kFailed);
    failed.reason = "connection lost: reset";
    failed.done.bytes_written = 4096;
    ReceiverRecord unicast = record(3, "rx3", ReceiverState::kDone);
    unicast.unicast = true;
    unicast.reason = "did not hear the session's multicast beacon";
    unicast.done_ns = 14 * kS;
    unicast.unicast_symbols = 1000;
    unicast.frames_sent = 800;  // unicast receivers lose no multicast frames
    ReceiverRecord superseded = record(4, "rx2", ReceiverState::kSuperseded);
    for (auto& r : {done, failed, unicast, superseded}) receivers[r.id] = r;
  }
  SendTotals totals;
  ReceiverRecords receivers;
};

TEST_F(SenderReport, JsonNamesEveryReceiversOutcome) {
  const nlohmann::json j = summary_json(totals, receivers);
  EXPECT_EQ(j["object"], "disk.img");
  EXPECT_EQ(j["bytes"], 1'000'000u);
  EXPECT_EQ(j["passes"], 2u);
  EXPECT_EQ(j["frames_sent"], 800u);
  EXPECT_EQ(j["repair_bytes_multicast"], 10'000u);
  EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 4.0);
  EXPECT_FALSE(j.contains("rate_auto"));
  EXPECT_EQ(j["ok"], 2u);
  EXPECT_EQ(j["failed"], 1u);
  ASSERT_EQ(j["receivers"].size(), 3u);  // the superseded entry is not reported

  const auto& done = j["receivers"][0];
  EXPECT_EQ(done["name"], "rx1");
  EXPECT_EQ(done["outcome"], "done");
  EXPECT_EQ(done["path"], "multicast");
  EXPECT_EQ(done["tls_identity"], "rx1.example");
  EXPECT_FALSE(done.contains("reason"));
  EXPECT_FALSE(done.contains("hint"));
  EXPECT_EQ(done["bytes"], 1'000'000u);
  EXPECT_DOUBLE_EQ(done["seconds"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(done["goodput_bps"].get<double>(), 4'000'000.0);
  EXPECT_EQ(done["symbols_lost"], 10u);

  const auto& failed = j["receivers"][1];
  EXPECT_EQ(failed["outcome"], "failed");
  EXPECT_EQ(failed["reason"], "connection lost: reset");
  EXPECT_EQ(failed["bytes"], 4096u);
  EXPECT_DOUBLE_EQ(failed["seconds"].get<double>(), 0.0);
  EXPECT_FALSE(failed.contains("tls_identity"));

  const auto& unicast = j["receivers"][2];
  EXPECT_EQ(unicast["outcome"], "done");
  EXPECT_EQ(unicast["path"], "unicast");
  EXPECT_EQ(unicast["hint"], "did not hear the session's multicast beacon");
  EXPECT_FALSE(unicast.contains("reason"));
  EXPECT_EQ(unicast["symbols_lost"], 0u);
  EXPECT_EQ(unicast["repair_bytes_unicast"], 1'000'000u);
}

TEST_F(SenderReport, JsonCarriesTheRateControllersSummary) {
  totals.rate_auto = nlohmann::json{{"final_bps", 1}};
  EXPECT_EQ(summary_json(totals, receivers)["rate_auto"]["final_bps"], 1);
}

TEST_F(SenderReport, TableMarksFailuresAndCountsVerified) {
  const std::string t = summary_table(totals, receivers);
  EXPECT_EQ(t.rfind("\nreceiver ", 0), 0u);
  EXPECT_NE(t.find("rx2                  10.0.0.2:5000          FAILED   multicast"),
            std::string::npos);
  EXPECT_NE(t.find("connection lost: reset"), std::string::npos);
  EXPECT_NE(t.find("rx3                  10.0.0.3:5000          done     unicast"),
            std::string::npos);
  EXPECT_EQ(t.find("10.0.0.4"), std::string::npos);
  EXPECT_NE(t.find("2 of 3 receivers verified the object; 2 pass(es)"), std::string::npos);
}

TEST_F(SenderReport, ExpectedHostsThatNeverJoinedAreFailedRows) {
  totals.hosts_missing = {"node7"};
  const std::string t = summary_table(totals, receivers);
  EXPECT_NE(t.find("node7                -                      FAILED"), std::string::npos) << t;
  EXPECT_NE(t.find("expected (--hosts) but never joined"), std::string::npos);
  EXPECT_NE(t.find("2 of 4 receivers verified the object"), std::string::npos) << t;
  const nlohmann::json j = summary_json(totals, receivers);
  EXPECT_EQ(j["failed"], 2);
  EXPECT_EQ(j["hosts_missing"], nlohmann::json::array({"node7"}));
  EXPECT_EQ(j["receivers"].back()["name"], "node7");
  EXPECT_EQ(j["receivers"].back()["outcome"], "failed");
}

TEST_F(SenderReport, ReceiversBehindARelayAreRowsOfTheirOwn) {
  ReceiverRecord relay = record(5, "relay1", ReceiverState::kDone);
  relay.unicast = true;
  relay.done_ns = 11 * kS;
  relay.segment = "239.1.1.2:9000 via eth1";
  relay.relayed = {{"n7", "10.9.0.7:4000", true, "", false},
                   {"n8", "10.9.0.8:4000", false, "disk full", false},
                   {"n9", "10.9.0.9:4000", false, "aborted", true}};  // went on from the sender
  receivers[relay.id] = relay;
  const nlohmann::json j = summary_json(totals, receivers);
  EXPECT_EQ(j["ok"], 4) << "rx1, rx3, relay1, n7";
  EXPECT_EQ(j["failed"], 2) << "rx2, n8";
  const nlohmann::json& rows = j["receivers"];
  auto row = [&](const std::string& name) {
    for (const auto& r : rows)
      if (r["name"] == name) return r;
    return nlohmann::json();
  };
  EXPECT_EQ(row("relay1")["relays_into"], "239.1.1.2:9000 via eth1");
  EXPECT_EQ(row("n7")["path"], "relay");
  EXPECT_EQ(row("n7")["via"], "relay1");
  EXPECT_EQ(row("n7")["outcome"], "done");
  EXPECT_EQ(row("n8")["outcome"], "failed");
  EXPECT_EQ(row("n8")["reason"], "disk full");
  EXPECT_TRUE(row("n9").is_null()) << "superseded: its own entry at the sender counts";
  const std::string t = summary_table(totals, receivers);
  EXPECT_NE(t.find("n7                   10.9.0.7:4000          done     relay"), std::string::npos)
      << t;
  EXPECT_NE(t.find("through relay1"), std::string::npos);
  EXPECT_NE(t.find("4 of 6 receivers verified the object"), std::string::npos) << t;
}

TEST_F(SenderReport, PeerRepairShowsInTheJsonAndTheTable) {
  receivers[3].peer_passes = 2;
  receivers[1].peer_addr = "10.0.0.1:7000";
  const nlohmann::json j = summary_json(totals, receivers);
  int seen = 0;
  for (const auto& r : j["receivers"]) {
    if (r["name"] == "rx3") {
      EXPECT_EQ(r["peer_passes"], 2);
      ++seen;
    } else if (r["name"] == "rx1") {
      EXPECT_EQ(r["served_peers_at"], "10.0.0.1:7000");
      EXPECT_FALSE(r.contains("peer_passes"));
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2);
  const std::string t = summary_table(totals, receivers);
  EXPECT_NE(t.find("did not hear the session's multicast beacon; 2 pass(es) from peers"),
            std::string::npos)
      << t;
}

TEST_F(SenderReport, MetricsListReceiversAndStates) {
  MetricsSnapshot s;
  s.object_bytes = 1'000'000;
  s.rate_bps = 400'000'000;
  s.frames_sent = 812;
  s.passes = 2;
  s.joining = 1;
  const std::string m = render_metrics(s, receivers);
  EXPECT_NE(m.find("\nshoal_sender_object_bytes 1000000\n"), std::string::npos);
  EXPECT_NE(m.find("\nshoal_sender_frames_sent_total 812\n"), std::string::npos);
  EXPECT_NE(m.find("shoal_sender_receiver_done{address=\"10.0.0.1:5000\",name=\"rx1\","
                   "path=\"multicast\"} 1\n"),
            std::string::npos);
  EXPECT_NE(m.find("shoal_sender_receiver_done{address=\"10.0.0.2:5000\",name=\"rx2\","
                   "path=\"multicast\"} 0\n"),
            std::string::npos);
  EXPECT_NE(m.find("path=\"unicast\"} 1\n"), std::string::npos);
  EXPECT_EQ(m.find("10.0.0.4"), std::string::npos);
  EXPECT_NE(m.find("shoal_sender_receivers{state=\"done\"} 2\n"), std::string::npos);
  EXPECT_NE(m.find("shoal_sender_receivers{state=\"failed\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("shoal_sender_receivers{state=\"joining\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("shoal_sender_receivers{state=\"ready\"} 0\n"), std::string::npos);
}

}  // namespace
}  // namespace shoal::session
