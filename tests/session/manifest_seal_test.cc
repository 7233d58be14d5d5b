#include "session/manifest_seal.h"

#include <gtest/gtest.h>

#include <vector>

namespace shoal::session {
namespace {

control::Key key_of(uint8_t seed) {
  control::Key k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed + 3 * i);
  return k;
}

control::Manifest sealed(const ManifestSeal& seal, uint32_t first,
                         std::vector<control::Digest> hashes) {
  control::Manifest m;
  m.first_block = first;
  m.block_hashes = std::move(hashes);
  m.tag = seal.tag(first, static_cast<uint32_t>(m.block_hashes.size()),
                   ManifestSeal::digest_of(m.block_hashes));
  return m;
}

constexpr uint64_t kSession = 0xfeedfacecafebeefULL;

TEST(ManifestSeal, TaggedHashesVerifyWithTheSameChannelKeyAndSession) {
  const ManifestSeal tx(key_of(9), kSession), rx(key_of(9), kSession);
  const control::Manifest m = sealed(tx, 512, {key_of(1), key_of(2), key_of(3)});
  EXPECT_NE(m.tag, control::ManifestTag{}) << "a channel key gives a real tag";
  EXPECT_TRUE(rx.verify(m));
  EXPECT_FALSE(ManifestSeal(key_of(10), kSession).verify(m)) << "other channel key";
  EXPECT_FALSE(ManifestSeal(key_of(9), kSession ^ 1).verify(m)) << "other session (replay)";
}

TEST(ManifestSeal, AnyChangeToAHashOrItsPlaceIsDetected) {
  const ManifestSeal seal(key_of(9), kSession);
  const control::Manifest m = sealed(seal, 512, {key_of(1), key_of(2), key_of(3)});
  for (size_t i = 0; i < m.block_hashes.size(); ++i) {
    control::Manifest t = m;
    t.block_hashes[i][31] ^= 1;
    EXPECT_FALSE(seal.verify(t)) << "hash " << i;
  }
  control::Manifest moved = m;
  moved.first_block = 0;
  EXPECT_FALSE(seal.verify(moved)) << "moved to other blocks";
  control::Manifest cut = m;
  cut.block_hashes.pop_back();
  EXPECT_FALSE(seal.verify(cut)) << "a hash dropped";
  control::Manifest tag = m;
  tag.tag[0] ^= 1;
  EXPECT_FALSE(seal.verify(tag)) << "tag";
}

TEST(ManifestSeal, TheEndBindsTheObjectDigestAndTheBlockCount) {
  const ManifestSeal seal(key_of(9), kSession);
  control::ManifestEnd e{key_of(40), seal.end_tag(1000, key_of(40))};
  EXPECT_TRUE(seal.verify(e, 1000));
  EXPECT_FALSE(seal.verify(e, 999)) << "an end that claims fewer blocks";
  control::ManifestEnd t = e;
  t.object_sha256[0] ^= 1;
  EXPECT_FALSE(seal.verify(t, 1000)) << "object digest";
  EXPECT_FALSE(ManifestSeal(key_of(10), kSession).verify(e, 1000)) << "other channel key";
}

// --insecure without TLS: no channel secret, so nothing to tag with (as the KeyGrant's clear
// wrap); tags are zero and anything verifies.
TEST(ManifestSeal, WithoutAChannelKeyTagsAreZeroAndUnchecked) {
  const ManifestSeal seal(std::nullopt, kSession);
  const control::Manifest m = sealed(seal, 0, {key_of(1)});
  EXPECT_EQ(m.tag, control::ManifestTag{});
  control::Manifest t = m;
  t.block_hashes[0][0] ^= 1;
  EXPECT_TRUE(seal.verify(t));
}

}  // namespace
}  // namespace shoal::session
