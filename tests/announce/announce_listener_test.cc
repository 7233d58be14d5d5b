// The checks every receiver applies to a heard announcement: which ones its options accept
// (accept_unsigned_announcements), and check_announcement: authentic as that
// requires, fresh, and where its sender's control port is.
#include "announce/announce_listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <vector>

namespace shoal::announce {
namespace {

constexpr uint64_t kNow = 1'760'000'000'000;  // our wall clock in these tests, ms

const control::Key kOurKey = [] {
  control::Key k{};
  k.fill(0x5a);
  return k;
}();

sockaddr_in from_address(const char* ip) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &sa.sin_addr);
  return sa;
}

// An announcement of session `id` sent at `sent_ms`, naming control address `ctl` (0 = "where
// this came from"), signed with `key` or unsigned.
std::vector<uint8_t> wire(uint64_t id, uint64_t sent_ms, uint32_t ctl,
                          const std::optional<control::Key>& key) {
  Announcement a;
  a.session_id = id;
  a.timestamp_ms = sent_ms;
  a.control_ipv4 = ctl;
  a.control_port = 9100;
  a.object_size = 4096;
  a.object_name = "node-root.img";
  std::vector<uint8_t> out(kAnnounceMaxSize);
  out.resize(encode_announcement(a, key, out));
  return out;
}

// The error text, or "" when there is none.
std::string error_of(const Result<bool>& r) {
  return r.ok() ? std::string() : r.error();
}

// Whether a receiver with these options accepts unsigned announcements; an error fails the test.
bool unsigned_ok(size_t keys, bool insecure, bool tls) {
  auto r = accept_unsigned_announcements(keys, insecure, tls);
  EXPECT_TRUE(r.ok()) << error_of(r);
  return r.ok() && *r;
}

TEST(AnnouncementAuth, AKeyRequiresSignaturesCertificatesAloneAcceptUnsigned) {
  // key count, --insecure, TLS
  EXPECT_FALSE(unsigned_ok(1, false, false));
  EXPECT_FALSE(unsigned_ok(2, false, true));  // a key is kept when TLS is added
  EXPECT_TRUE(unsigned_ok(0, false, true));
  EXPECT_TRUE(unsigned_ok(0, true, false));
}

TEST(AnnouncementAuth, UnusableCombinationsNameTheFix) {
  const std::string none = error_of(accept_unsigned_announcements(0, false, false));
  for (const char* fix : {"--key-file", "--tls-cert", "--insecure"})
    EXPECT_NE(none.find(fix), std::string::npos) << none;
  EXPECT_NE(error_of(accept_unsigned_announcements(1, true, false)).find("contradict"),
            std::string::npos);
  const std::string insecure_tls = error_of(accept_unsigned_announcements(0, true, true));
  EXPECT_NE(insecure_tls.find("drop --insecure"), std::string::npos) << insecure_tls;
}

TEST(AnnouncementAuth, ACertificateOnlyReceiverTakesUnsignedAndRefusesSigned) {
  auto u = decode_announcement(wire(7, kNow, 0, std::nullopt), {}, unsigned_ok(0, false, true));
  ASSERT_TRUE(u.ok()) << u.error();
  EXPECT_EQ(u->key_index, -1);
  // A sender with a key demands it in the join: a receiver without one is told to add it.
  auto s = decode_announcement(wire(7, kNow, 0, kOurKey), {}, unsigned_ok(0, false, true));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("--key-file"), std::string::npos) << s.error();
}

TEST(AnnouncementAuth, AKeyedReceiverWithCertificatesRefusesUnsigned) {
  const control::Key keys[] = {kOurKey};
  auto u = decode_announcement(wire(7, kNow, 0, std::nullopt), keys, unsigned_ok(1, false, true));
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().find("unsigned"), std::string::npos) << u.error();
  auto s = decode_announcement(wire(7, kNow, 0, kOurKey), keys, unsigned_ok(1, false, true));
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(s->key_index, 0);
}

AnnounceChecks keyed() {
  return AnnounceChecks{{kOurKey}, false, 300'000};
}

TEST(CheckAnnouncement, SignedAndFreshIsTakenWithItsKeyAndControlAddress) {
  AnnounceFilter filter(300'000);
  const auto src = from_address("198.18.0.7");
  HeardAnnouncement h =
      check_announcement(wire(42, kNow, 0xc6120001, kOurKey), src, keyed(), filter, kNow);
  ASSERT_EQ(h.kind, HeardAnnouncement::Kind::kFresh) << h.problem;
  EXPECT_EQ(h.key_index, 0);
  EXPECT_EQ(h.announcement.session_id, 42u);
  EXPECT_EQ(h.announcement.object_name, "node-root.img");
  EXPECT_EQ(h.sender, "198.18.0.1:9100");  // the announced address, not the datagram's source
  EXPECT_EQ(h.source, "198.18.0.7");
}

TEST(CheckAnnouncement, AddressZeroMeansTheDatagramsSource) {
  AnnounceFilter filter(300'000);
  HeardAnnouncement h = check_announcement(wire(42, kNow, 0, kOurKey), from_address("198.18.0.7"),
                                           keyed(), filter, kNow);
  ASSERT_EQ(h.kind, HeardAnnouncement::Kind::kFresh) << h.problem;
  EXPECT_EQ(h.sender, "198.18.0.7:9100");
}

TEST(CheckAnnouncement, ARepeatedTimestampIsADuplicateAndANewerOneFresh) {
  AnnounceFilter filter(300'000);
  const auto src = from_address("198.18.0.1");
  const auto first = wire(42, kNow, 0, kOurKey);
  EXPECT_EQ(check_announcement(first, src, keyed(), filter, kNow).kind,
            HeardAnnouncement::Kind::kFresh);
  EXPECT_EQ(check_announcement(first, src, keyed(), filter, kNow + 10).kind,
            HeardAnnouncement::Kind::kDuplicate);
  EXPECT_EQ(
      check_announcement(wire(42, kNow + 500, 0, kOurKey), src, keyed(), filter, kNow + 500).kind,
      HeardAnnouncement::Kind::kFresh);
}

TEST(CheckAnnouncement, BeyondTheClockSkewIsStaleAndSaysHowToFixIt) {
  AnnounceFilter filter(300'000);
  const uint64_t an_hour_ago = kNow - 3'600'000;
  HeardAnnouncement h = check_announcement(wire(42, an_hour_ago, 0, kOurKey),
                                           from_address("198.18.0.1"), keyed(), filter, kNow);
  EXPECT_EQ(h.kind, HeardAnnouncement::Kind::kStale);
  EXPECT_NE(h.problem.find("-3600 s"), std::string::npos) << h.problem;
  EXPECT_NE(h.problem.find("--max-clock-skew"), std::string::npos) << h.problem;
  AnnounceFilter unchecked(0);  // 0: machines without a synchronised clock
  EXPECT_EQ(check_announcement(wire(42, an_hour_ago, 0, kOurKey), from_address("198.18.0.1"),
                               keyed(), unchecked, kNow)
                .kind,
            HeardAnnouncement::Kind::kFresh);
}

TEST(CheckAnnouncement, UnsignedOrForeignOrBrokenIsRejectedNamingTheSource) {
  AnnounceFilter filter(300'000);
  const auto src = from_address("198.18.0.9");
  HeardAnnouncement u =
      check_announcement(wire(1, kNow, 0, std::nullopt), src, keyed(), filter, kNow);
  EXPECT_EQ(u.kind, HeardAnnouncement::Kind::kRejected);
  EXPECT_NE(u.problem.find("198.18.0.9"), std::string::npos) << u.problem;
  EXPECT_NE(u.problem.find("unsigned"), std::string::npos) << u.problem;
  control::Key other{};
  other.fill(0x11);
  EXPECT_EQ(check_announcement(wire(2, kNow, 0, other), src, keyed(), filter, kNow).kind,
            HeardAnnouncement::Kind::kRejected);
  const std::vector<uint8_t> junk(70, 0xee);
  EXPECT_EQ(check_announcement(junk, src, keyed(), filter, kNow).kind,
            HeardAnnouncement::Kind::kRejected);
  // Where unsigned ones are accepted (TLS alone, --insecure), the same datagram is taken.
  AnnounceChecks tls_only{{}, true, 300'000};
  HeardAnnouncement t =
      check_announcement(wire(3, kNow, 0, std::nullopt), src, tls_only, filter, kNow);
  EXPECT_EQ(t.kind, HeardAnnouncement::Kind::kFresh) << t.problem;
  EXPECT_EQ(t.key_index, -1);
}

}  // namespace
}  // namespace shoal::announce
