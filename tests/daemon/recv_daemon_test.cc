// The receiver daemon's policy: destination rules, safe names and the session table.
#include "daemon/recv_daemon.h"

#include <gtest/gtest.h>

#include "announce/announce.h"

namespace shoal::daemon {
namespace {

using Kind = SessionTable::Kind;

std::vector<MapRule> rules(std::initializer_list<const char*> texts) {
  std::vector<MapRule> out;
  for (const char* t : texts) out.push_back(parse_map_rule(t).value());
  return out;
}

TEST(MapRule, SplitsAtTheFirstEquals) {
  auto r = parse_map_rule("a=b=c");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pattern, "a");
  EXPECT_EQ(r->dest, "b=c");
  for (const char* bad : {"", "=x", "x=", "nothing"}) EXPECT_FALSE(parse_map_rule(bad).ok()) << bad;
}

TEST(MapRule, FirstMatchWinsAndDirectoriesGetTheName) {
  auto rs = rules({"debian-*.img=/srv/images/", "node.img=/dev/vdb", "*=/srv/other"});
  EXPECT_EQ(destination_for(rs, "debian-12.img"), "/srv/images/debian-12.img");
  EXPECT_EQ(destination_for(rs, "node.img"), "/dev/vdb");
  EXPECT_EQ(destination_for(rs, "anything"), "/srv/other");
  auto narrow = rules({"debian-*.img=/srv/images/"});
  EXPECT_FALSE(destination_for(narrow, "ubuntu.img").has_value());
  EXPECT_FALSE(destination_for({}, "debian-12.img").has_value());
}

TEST(SafeName, RefusesPathsHiddenNamesAndControlCharacters) {
  EXPECT_TRUE(safe_object_name("debian-12.img"));
  EXPECT_TRUE(safe_object_name("a b+c@d"));
  const std::string bad_names[] = {
      "", ".", "..", ".hidden", "a/b", "../etc/passwd", "a\nb", std::string(256, 'x'), "a\x7f"};
  for (const std::string& bad : bad_names) {
    EXPECT_FALSE(safe_object_name(bad)) << bad;
  }
}

TEST(SessionTable, StartsOnceThenIgnores) {
  SessionTable t(rules({"*.img=/srv/"}), 2);
  auto d = t.consider(1, "a.img");
  EXPECT_EQ(d.kind, Kind::kStart);
  EXPECT_EQ(d.dest, "/srv/a.img");
  EXPECT_EQ(t.running(), 1u);
  EXPECT_EQ(t.consider(1, "a.img").kind, Kind::kIgnore);  // while running
  t.finished(1);
  EXPECT_EQ(t.running(), 0u);
  EXPECT_EQ(t.consider(1, "a.img").kind, Kind::kIgnore);  // and after
}

TEST(SessionTable, RefusesUnmatchedAndUnsafeNamesOnce) {
  SessionTable t(rules({"*.img=/srv/"}), 2);
  auto d = t.consider(1, "secret.bin");
  EXPECT_EQ(d.kind, Kind::kRefuse);
  EXPECT_TRUE(d.first);
  EXPECT_NE(d.reason.find("secret.bin"), std::string::npos);
  EXPECT_EQ(t.consider(1, "secret.bin").kind, Kind::kIgnore);
  EXPECT_EQ(t.consider(2, "../x.img").kind, Kind::kRefuse);
  EXPECT_EQ(t.running(), 0u);
}

TEST(SessionTable, WaitsForASlotAndStartsWhenOneFrees) {
  SessionTable t(rules({"*=/srv/"}), 1);
  EXPECT_EQ(t.consider(1, "a").kind, Kind::kStart);
  auto busy = t.consider(2, "b");
  EXPECT_EQ(busy.kind, Kind::kBusy);
  EXPECT_TRUE(busy.first);
  EXPECT_NE(busy.reason.find("--max-sessions 1"), std::string::npos);
  auto again = t.consider(2, "b");
  EXPECT_EQ(again.kind, Kind::kBusy);
  EXPECT_FALSE(again.first);  // same reason: not logged again
  t.finished(1);
  EXPECT_EQ(t.consider(2, "b").kind, Kind::kStart);
}

TEST(SessionTable, OneWriterPerDestination) {
  SessionTable t(rules({"*=/dev/vdb"}), 4);
  EXPECT_EQ(t.consider(1, "a").kind, Kind::kStart);
  auto d = t.consider(2, "b");
  EXPECT_EQ(d.kind, Kind::kBusy);
  EXPECT_NE(d.reason.find("/dev/vdb"), std::string::npos);
  t.finished(1);
  EXPECT_EQ(t.consider(2, "b").kind, Kind::kStart);
}

TEST(SessionTable, ForgetsOldSessionsButNeverRunningOnes) {
  SessionTable t(rules({"*=/srv/"}), 8, 2);
  EXPECT_EQ(t.consider(1, "a").kind, Kind::kStart);
  EXPECT_EQ(t.consider(2, "b").kind, Kind::kStart);
  t.finished(2);
  EXPECT_EQ(t.consider(3, "c").kind, Kind::kStart);  // over capacity: forgets 2, not running 1
  EXPECT_EQ(t.consider(1, "a").kind, Kind::kIgnore);
  EXPECT_EQ(t.consider(2, "b").kind, Kind::kStart);  // forgotten: the replay filter guards this
  EXPECT_EQ(t.running(), 3u);
}

control::Key key_of(uint8_t seed) {
  control::Key k{};
  k.fill(seed);
  return k;
}

DaemonOptions daemon_with(size_t keys, bool tls) {
  DaemonOptions d;
  for (size_t i = 0; i < keys; ++i) d.keys.push_back(key_of(uint8_t(i + 1)));
  d.insecure = keys == 0 && !tls;
  if (tls) d.receiver.tls = {"/etc/shoal/node.pem", "/etc/shoal/node.key", "/etc/shoal/ca.pem"};
  d.receiver.iface = "eth1";
  d.receiver.name = "node07";
  return d;
}

TEST(SessionReceiveOptions, SignedJoinsWithTheSigningKeyAndKeepsTls) {
  const DaemonOptions d = daemon_with(2, true);
  session::RecvOptions o =
      session_receive_options(d, {42, "node.img", 1000}, 1, "198.18.0.1:9100", "/srv/node.img");
  ASSERT_TRUE(o.key.has_value());
  EXPECT_EQ(*o.key, d.keys[1]);
  EXPECT_FALSE(o.insecure);
  EXPECT_EQ(o.tls.cert, "/etc/shoal/node.pem");
  EXPECT_EQ(o.tls.key, "/etc/shoal/node.key");
  EXPECT_EQ(o.tls.ca, "/etc/shoal/ca.pem");
  EXPECT_EQ(o.sender, "198.18.0.1:9100");
  EXPECT_EQ(o.out, "/srv/node.img");
  ASSERT_TRUE(o.announced.has_value());
  EXPECT_EQ(o.announced->session_id, 42u);
  EXPECT_EQ(o.announced->object_name, "node.img");  // the Session must describe this object
  EXPECT_EQ(o.announced->object_size, 1000u);
  EXPECT_EQ(o.iface, "eth1");  // the rest comes from the template
  EXPECT_EQ(o.name, "node07");
}

TEST(SessionReceiveOptions, UnsignedJoinsWithTlsAloneOrWithoutAuthentication) {
  session::RecvOptions tls =
      session_receive_options(daemon_with(0, true), {42, "x", 1}, -1, "198.18.0.1:9100", "/x");
  EXPECT_FALSE(tls.key.has_value());
  EXPECT_FALSE(tls.insecure);  // TLS authenticates the sender
  EXPECT_TRUE(tls.tls.enabled());
  session::RecvOptions none =
      session_receive_options(daemon_with(0, false), {42, "x", 1}, -1, "198.18.0.1:9100", "/x");
  EXPECT_FALSE(none.key.has_value());
  EXPECT_TRUE(none.insecure);
  EXPECT_FALSE(none.tls.enabled());
  // Never without authentication unless the daemon runs --insecure: a keyed daemon's session
  // without a key (its policy refuses unsigned announcements) would fail, not run open.
  session::RecvOptions keyed =
      session_receive_options(daemon_with(1, false), {42, "x", 1}, -1, "198.18.0.1:9100", "/x");
  EXPECT_FALSE(keyed.insecure);
}

}  // namespace
}  // namespace shoal::daemon
