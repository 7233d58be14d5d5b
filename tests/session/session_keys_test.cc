#include "session/session_keys.h"

#include <gtest/gtest.h>

#include <vector>

namespace shoal::session {
namespace {

control::Key key_of(uint8_t seed) {
  control::Key k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed + 3 * i);
  return k;
}

struct Fixture {
  control::Session session;
  Fixture() {
    session.session_id = 0xfeedfacecafebeefULL;
    session.block_count = 3;
    session.object_name = "node.img";
    session.object_size = 3 * 4 * 1024;
    session.symbol_size = 1024;
    session.k = 4;
    session.group_ipv4 = 0xEF010203;
    session.port = 9000;
  }
};

TEST(SessionKeys, SealedGrantOpensWithTheSameChannelKey) {
  Fixture f;
  for (auto suite :
       {control::FrameSuite::kGmac, control::FrameSuite::kAeadGcm, control::FrameSuite::kNone}) {
    DataKey k = make_data_key(suite);
    control::KeyGrant g = seal_key_grant(k, key_of(9), f.session);
    EXPECT_EQ(g.wrap, control::KeyWrap::kChannel);
    EXPECT_NE(g.key, k.key) << "the key must not travel in the clear";
    auto opened = open_key_grant(g, key_of(9), f.session);
    ASSERT_TRUE(opened.ok()) << opened.error();
    EXPECT_EQ(opened->key, k.key);
    EXPECT_EQ(opened->suite, suite);
  }
}

TEST(SessionKeys, FreshKeysDiffer) {
  EXPECT_NE(make_data_key(control::FrameSuite::kGmac).key,
            make_data_key(control::FrameSuite::kGmac).key);
}

TEST(SessionKeys, AnyChangeToKeyOrSessionIsDetected) {
  Fixture f;
  DataKey k = make_data_key(control::FrameSuite::kGmac);
  const control::KeyGrant g = seal_key_grant(k, key_of(9), f.session);
  EXPECT_FALSE(open_key_grant(g, key_of(10), f.session).ok()) << "other channel key";
  {
    control::Session s = f.session;
    s.session_id ^= 1;
    EXPECT_FALSE(open_key_grant(g, key_of(9), s).ok()) << "session id";
  }
  {
    control::Session s = f.session;
    s.object_format ^= 1;
    EXPECT_FALSE(open_key_grant(g, key_of(9), s).ok()) << "object format";
  }
  // Issue #15 item 1: the name picks a receiver's destination; size, layout and group are the
  // session description docs/security.md says is protected.
  const std::vector<std::pair<const char*, void (*)(control::Session&)>> alterations = {
      {"object name", [](control::Session& s) { s.object_name = "boot-disk"; }},
      {"object name (longer)", [](control::Session& s) { s.object_name += "x"; }},
      {"object size", [](control::Session& s) { s.object_size += 1; }},
      {"symbol size", [](control::Session& s) { s.symbol_size += 64; }},
      {"k", [](control::Session& s) { s.k += 1; }},
      {"block count", [](control::Session& s) { s.block_count += 1; }},
      {"group", [](control::Session& s) { s.group_ipv4 ^= 1; }},
      {"port", [](control::Session& s) { s.port ^= 1; }},
      {"progress interval", [](control::Session& s) { s.progress_interval_ms ^= 1; }},
  };
  for (const auto& [what, alter] : alterations) {
    control::Session s = f.session;
    alter(s);
    EXPECT_FALSE(open_key_grant(g, key_of(9), s).ok()) << what;
  }
  {
    control::KeyGrant t = g;
    t.suite = control::FrameSuite::kNone;
    auto r = open_key_grant(t, key_of(9), f.session);
    ASSERT_FALSE(r.ok()) << "suite downgrade";
    EXPECT_NE(r.error().find("altered"), std::string::npos) << r.error();
  }
  for (size_t i = 0; i < g.key.size(); ++i) {
    control::KeyGrant t = g;
    t.key[i] ^= 0x40;
    EXPECT_FALSE(open_key_grant(t, key_of(9), f.session).ok()) << i;
  }
}

TEST(SessionKeys, ClearGrantOnlyWithoutAChannelKey) {
  Fixture f;
  DataKey k = make_data_key(control::FrameSuite::kGmac);
  control::KeyGrant clear = seal_key_grant(k, std::nullopt, f.session);
  EXPECT_EQ(clear.wrap, control::KeyWrap::kClear);
  auto opened = open_key_grant(clear, std::nullopt, f.session);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->key, k.key);
  auto downgrade = open_key_grant(clear, key_of(9), f.session);
  ASSERT_FALSE(downgrade.ok());
  EXPECT_NE(downgrade.error().find("unprotected"), std::string::npos) << downgrade.error();
  control::KeyGrant sealed = seal_key_grant(k, key_of(9), f.session);
  auto keyless = open_key_grant(sealed, std::nullopt, f.session);
  ASSERT_FALSE(keyless.ok());
  EXPECT_NE(keyless.error().find("--key-file"), std::string::npos) << keyless.error();
}

}  // namespace
}  // namespace shoal::session
