// Session announcements: wire format round trip, authentication, and the replay filter.
#include "announce/announce.h"

#include <gtest/gtest.h>

#include <vector>

namespace shoal::announce {
namespace {

control::Key key_of(uint8_t seed) {
  control::Key k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed + i * 7);
  return k;
}

Announcement sample() {
  Announcement a;
  a.session_id = 0x0123456789abcdefULL;
  a.timestamp_ms = 1'750'000'000'123ULL;
  for (size_t i = 0; i < a.nonce.size(); ++i) a.nonce[i] = static_cast<uint8_t>(0xa0 + i);
  a.control_ipv4 = 0xc6120001;  // 198.18.0.1
  a.control_port = 9100;
  a.object_size = 20ULL << 30;
  a.object_name = "debian-12-generic.img";
  return a;
}

std::vector<uint8_t> encode(const Announcement& a, const std::optional<control::Key>& key) {
  std::vector<uint8_t> buf(kAnnounceMaxSize);
  size_t n = encode_announcement(a, key, buf);
  buf.resize(n);
  return buf;
}

TEST(Announce, RoundTripsEveryFieldAndNamesTheKey) {
  const control::Key keys[] = {key_of(1), key_of(2), key_of(3)};
  auto wire = encode(sample(), keys[1]);
  ASSERT_EQ(wire.size(), kAnnounceHeaderSize + sample().object_name.size() + kAnnounceTagSize);
  auto v = decode_announcement(wire, keys, false);
  ASSERT_TRUE(v.ok()) << v.error();
  EXPECT_EQ(v->key_index, 1);
  const Announcement& a = v->announcement;
  const Announcement s = sample();
  EXPECT_EQ(a.session_id, s.session_id);
  EXPECT_EQ(a.timestamp_ms, s.timestamp_ms);
  EXPECT_EQ(a.nonce, s.nonce);
  EXPECT_EQ(a.control_ipv4, s.control_ipv4);
  EXPECT_EQ(a.control_port, s.control_port);
  EXPECT_EQ(a.object_size, s.object_size);
  EXPECT_EQ(a.object_name, s.object_name);
}

// The target policy (send --target) rides after the name, covered by the tag: a receiver that
// takes its disk from it gets exactly what the sender signed.
TEST(Announce, TheTargetPolicyRoundTripsAndIsSigned) {
  const control::Key keys[] = {key_of(1)};
  Announcement s = sample();
  s.target_policy = "disk:model=SAMSUNG*";
  auto wire = encode(s, keys[0]);
  ASSERT_EQ(wire.size(),
            kAnnounceHeaderSize + s.object_name.size() + s.target_policy.size() + kAnnounceTagSize);
  EXPECT_EQ(wire[46] << 8 | wire[47], int(s.target_policy.size()));
  auto v = decode_announcement(wire, keys, false);
  ASSERT_TRUE(v.ok()) << v.error();
  EXPECT_EQ(v->announcement.target_policy, s.target_policy);
  EXPECT_EQ(v->announcement.object_name, s.object_name);
  // Another policy under the same tag does not verify.
  auto other = wire;
  other[kAnnounceHeaderSize + s.object_name.size() + 11] = 'H';  // "disk:model=H..."
  EXPECT_FALSE(decode_announcement(other, keys, false).ok());
  // A NUL inside the policy is refused even when the tag is right.
  Announcement nul = s;
  nul.target_policy[4] = '\0';
  auto with_nul = decode_announcement(encode(nul, keys[0]), keys, false);
  ASSERT_FALSE(with_nul.ok());
  EXPECT_NE(with_nul.error().find("NUL"), std::string::npos) << with_nul.error();
  // No policy: the field is 0, as the reserved bytes were.
  auto none = encode(sample(), keys[0]);
  EXPECT_EQ(none[46] << 8 | none[47], 0);
  auto n = decode_announcement(none, keys, false);
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(n->announcement.target_policy, "");
}

TEST(Announce, FieldsAreBigEndianAtTheDocumentedOffsets) {
  auto wire = encode(sample(), key_of(1));
  EXPECT_EQ(std::string(wire.begin(), wire.begin() + 4), "SHAN");
  EXPECT_EQ(wire[4], kAnnounceVersion);
  EXPECT_EQ(wire[5], kAnnounceSigned);
  EXPECT_EQ(wire[6] << 8 | wire[7], int(sample().object_name.size()));
  EXPECT_EQ(wire[8], 0x01);  // session id, most significant byte first
  EXPECT_EQ(wire[15], 0xef);
  EXPECT_EQ(wire[40], 198);  // control address
  EXPECT_EQ(wire[44] << 8 | wire[45], 9100);
  EXPECT_EQ(std::string(wire.begin() + 56, wire.begin() + 56 + 21), sample().object_name);
}

TEST(Announce, EveryFlippedBitIsRejected) {
  const control::Key keys[] = {key_of(9)};
  const auto wire = encode(sample(), keys[0]);
  for (size_t i = 0; i < wire.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = wire;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(decode_announcement(bad, keys, false).ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Announce, WrongKeyAndMissingKeyAreRejected) {
  const control::Key other[] = {key_of(5)};
  auto wire = encode(sample(), key_of(4));
  auto v = decode_announcement(wire, other, true);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().find("not signed with any of our keys"), std::string::npos);
  EXPECT_FALSE(decode_announcement(wire, {}, true).ok());
}

TEST(Announce, UnsignedOnlyWhenAllowed) {
  const control::Key keys[] = {key_of(1)};
  auto wire = encode(sample(), std::nullopt);
  EXPECT_EQ(wire[5], 0);
  EXPECT_FALSE(decode_announcement(wire, keys, false).ok());
  auto v = decode_announcement(wire, keys, true);
  ASSERT_TRUE(v.ok()) << v.error();
  EXPECT_EQ(v->key_index, -1);
  // Setting the SIGNED flag on an unsigned announcement does not help: the zero tag fails.
  wire[5] = kAnnounceSigned;
  EXPECT_FALSE(decode_announcement(wire, keys, true).ok());
}

TEST(Announce, LengthsAreChecked) {
  const control::Key keys[] = {key_of(1)};
  auto wire = encode(sample(), keys[0]);
  for (size_t n : {size_t{0}, size_t{4}, kAnnounceHeaderSize, wire.size() - 1}) {
    std::vector<uint8_t> cut(wire.begin(), wire.begin() + long(n));
    EXPECT_FALSE(decode_announcement(cut, keys, true).ok()) << n;
  }
  auto longer = wire;
  longer.push_back(0);
  EXPECT_FALSE(decode_announcement(longer, keys, true).ok());
}

TEST(Announce, EncoderRefusesWhatTheDecoderWould) {
  std::vector<uint8_t> buf(kAnnounceMaxSize + 16);
  Announcement a = sample();
  a.object_name = "";
  EXPECT_EQ(encode_announcement(a, key_of(1), buf), 0u);
  a.object_name = std::string(kAnnounceMaxName + 1, 'x');
  EXPECT_EQ(encode_announcement(a, key_of(1), buf), 0u);
  a.object_name = std::string(kAnnounceMaxName, 'x');
  a.target_policy = std::string(kAnnounceMaxTarget + 1, 'd');
  EXPECT_EQ(encode_announcement(a, key_of(1), buf), 0u);
  a.target_policy = std::string(kAnnounceMaxTarget, 'd');
  EXPECT_EQ(encode_announcement(a, key_of(1), buf), kAnnounceMaxSize);
  a.control_port = 0;
  EXPECT_EQ(encode_announcement(a, key_of(1), buf), 0u);
  a = sample();
  std::vector<uint8_t> small(kAnnounceHeaderSize + a.object_name.size() + kAnnounceTagSize - 1);
  EXPECT_EQ(encode_announcement(a, key_of(1), small), 0u);
}

TEST(AnnounceFilter, NewerTimestampsOfASessionPassRepeatsDoNot) {
  AnnounceFilter f(0);
  using V = AnnounceFilter::Verdict;
  EXPECT_EQ(f.check(1, 1000, 0), V::kFresh);
  EXPECT_EQ(f.check(1, 1000, 0), V::kDuplicate);  // the same datagram again
  EXPECT_EQ(f.check(1, 999, 0), V::kDuplicate);   // an older one
  EXPECT_EQ(f.check(1, 1500, 0), V::kFresh);
  EXPECT_EQ(f.check(2, 1000, 0), V::kFresh);  // sessions are independent
}

TEST(AnnounceFilter, StaleBeyondTheSkewEitherWayUnlessTurnedOff) {
  using V = AnnounceFilter::Verdict;
  AnnounceFilter f(60'000);
  const uint64_t now = 10'000'000;
  EXPECT_EQ(f.check(1, now - 60'001, now), V::kStale);
  EXPECT_EQ(f.check(2, now + 60'001, now), V::kStale);
  EXPECT_EQ(f.check(3, now - 60'000, now), V::kFresh);
  EXPECT_EQ(f.check(4, now + 59'000, now), V::kFresh);
  AnnounceFilter off(0);
  EXPECT_EQ(off.check(1, 5, now), V::kFresh);
}

TEST(AnnounceFilter, ForgetsTheOldestSessionBeyondCapacity) {
  using V = AnnounceFilter::Verdict;
  AnnounceFilter f(0, 2);
  EXPECT_EQ(f.check(1, 10, 0), V::kFresh);
  EXPECT_EQ(f.check(2, 10, 0), V::kFresh);
  EXPECT_EQ(f.check(3, 10, 0), V::kFresh);      // forgets session 1
  EXPECT_EQ(f.check(2, 10, 0), V::kDuplicate);  // still known
  EXPECT_EQ(f.check(1, 10, 0), V::kFresh);      // forgotten, so new again
}

TEST(AnnounceGroup, ParsesAndRefusesWithReasons) {
  auto g = parse_announce_group("239.255.0.2:9001");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(ntohs(g->sin_port), 9001);
  auto d = parse_announce_group("239.1.1.1");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(ntohs(d->sin_port), 9001);
  EXPECT_FALSE(parse_announce_group("10.0.0.1:9001").ok());  // not multicast
  EXPECT_FALSE(parse_announce_group("239.1.1.1:0").ok());
  EXPECT_FALSE(parse_announce_group("239.1.1.1:x").ok());
}

}  // namespace
}  // namespace shoal::announce
