// `shoal recv --announce`: which heard announcement is joined (AnnouncementChoice), and
// what the receiver says when none was.
#include "announce/announce_wait.h"

#include <gtest/gtest.h>

namespace shoal::announce {
namespace {

using Kind = HeardAnnouncement::Kind;

HeardAnnouncement fresh(uint64_t id, const std::string& name, int key_index = 0) {
  HeardAnnouncement h;
  h.kind = Kind::kFresh;
  h.announcement.session_id = id;
  h.announcement.object_name = name;
  h.announcement.object_size = 1 << 20;
  h.key_index = key_index;
  h.source = "198.18.0.1";
  h.sender = "198.18.0.1:9100";
  return h;
}

HeardAnnouncement refused(Kind kind, const std::string& problem) {
  HeardAnnouncement h;
  h.kind = kind;
  h.problem = problem;
  return h;
}

TEST(AnnouncementChoice, JoinsTheFirstMatchingSessionWithItsAddressAndKey) {
  AnnouncementChoice c("image-*");
  auto other = c.consider(fresh(1, "secret.bin"));
  EXPECT_FALSE(other.join.has_value());
  auto d = c.consider(fresh(2, "image-a.bin", 0));
  ASSERT_TRUE(d.join.has_value());
  EXPECT_EQ(d.join->session_id, 2u);
  EXPECT_EQ(d.join->sender, "198.18.0.1:9100");
  EXPECT_EQ(d.join->object_name, "image-a.bin");
  EXPECT_EQ(d.join->object_size, 1u << 20);
  EXPECT_EQ(d.join->key_index, 0);
}

TEST(AnnouncementChoice, WithoutAPatternAnyFreshSessionIsJoined) {
  AnnouncementChoice c("");
  auto d = c.consider(fresh(7, "anything.img", -1));
  ASSERT_TRUE(d.join.has_value());
  EXPECT_EQ(d.join->key_index, -1);  // unsigned: joined with TLS or --insecure
}

TEST(AnnouncementChoice, DuplicatesRejectedAndStaleOnesAreNeverJoined) {
  AnnouncementChoice c("");
  HeardAnnouncement dup = fresh(1, "a.img");
  dup.kind = Kind::kDuplicate;
  EXPECT_FALSE(c.consider(dup).join.has_value());
  EXPECT_TRUE(c.consider(dup).note.empty());  // a duplicate is not worth a log line
  HeardAnnouncement stale = fresh(2, "a.img");
  stale.kind = Kind::kStale;
  stale.problem = "stale";
  EXPECT_FALSE(c.consider(stale).join.has_value());
  EXPECT_FALSE(c.consider(refused(Kind::kRejected, "unsigned")).join.has_value());
}

TEST(AnnouncementChoice, EachPassedOverSessionAndProblemIsLoggedOnce) {
  AnnouncementChoice c("image-*");
  auto first = c.consider(fresh(1, "secret.bin"));
  EXPECT_FALSE(first.warning);
  EXPECT_NE(first.note.find("'secret.bin'"), std::string::npos) << first.note;
  EXPECT_NE(first.note.find("--object 'image-*'"), std::string::npos) << first.note;
  EXPECT_TRUE(c.consider(fresh(1, "secret.bin")).note.empty());  // its next announcement
  auto bad = c.consider(refused(Kind::kRejected, "ignoring announcements from X: unsigned"));
  EXPECT_TRUE(bad.warning);
  EXPECT_EQ(bad.note, "ignoring announcements from X: unsigned");
  EXPECT_TRUE(c.consider(refused(Kind::kRejected, bad.note)).note.empty());
}

TEST(AnnouncementChoice, NothingTakenSaysWhatWasHeard) {
  AnnouncementChoice silent("image-*");
  const std::string none = silent.nothing_taken();
  EXPECT_NE(none.find("heard no announcement"), std::string::npos) << none;
  EXPECT_NE(none.find("--announce"), std::string::npos) << none;
  EXPECT_NE(none.find("--iface"), std::string::npos) << none;

  AnnouncementChoice c("image-*");
  (void)c.consider(fresh(1, "secret.bin"));
  (void)c.consider(fresh(1, "secret.bin"));
  (void)c.consider(fresh(2, "other.iso"));
  (void)c.consider(refused(Kind::kRejected, "not signed with any of our keys"));
  (void)c.consider(refused(Kind::kStale, "stale"));
  const std::string why = c.nothing_taken();
  EXPECT_NE(why.find("heard 2 session(s)"), std::string::npos) << why;
  EXPECT_NE(why.find("(other.iso, secret.bin)"), std::string::npos) << why;
  EXPECT_NE(why.find("1 announcement(s) rejected"), std::string::npos) << why;
  EXPECT_NE(why.find("1 stale announcement(s)"), std::string::npos) << why;
  EXPECT_EQ(why.find("heard no announcement"), std::string::npos) << why;
}

}  // namespace
}  // namespace shoal::announce
