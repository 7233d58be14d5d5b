// The receiver daemon's policy: destination rules, safe names and the session table.
#include "session/recv_daemon.h"

#include <gtest/gtest.h>

namespace shoal::session {
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

}  // namespace
}  // namespace shoal::session
