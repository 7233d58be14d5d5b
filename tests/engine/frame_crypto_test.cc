#include "engine/frame_crypto.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <vector>

namespace shoal::engine {
namespace {

FrameKey key_of(uint8_t seed) {
  FrameKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 13 + i);
  return k;
}

struct Frame {
  uint8_t header[kHeaderSize];
  std::vector<uint8_t> payload;
  uint8_t tag[kFrameTagSize];
};

Frame make_frame(FrameCrypto& fc, uint32_t block, uint32_t sequence, size_t len,
                 std::vector<uint8_t>* plain = nullptr) {
  Frame f;
  FrameHeader h;
  h.type = kFrameData;
  h.flags = protection_flags(fc.protection());
  h.k = 4;
  h.esi = 1;
  h.tag_len = kFrameTagSize;
  h.session = 0x1122334455667788ULL;
  h.block = block;
  h.payload_len = static_cast<uint16_t>(len);
  h.sequence = sequence;
  encode_header_fields(h, f.header);
  f.payload.resize(len);
  for (size_t i = 0; i < len; ++i) f.payload[i] = static_cast<uint8_t>(i * 7 + sequence);
  if (plain) *plain = f.payload;
  EXPECT_TRUE(fc.seal(f.header, f.payload, f.payload.data(), f.tag));
  return f;
}

// The same computation written out from the format description with OpenSSL's one-shot calls,
// so a wrong IV layout or AAD in FrameCrypto would show.
std::vector<uint8_t> reference_tag(const FrameKey& key, const uint8_t header[kHeaderSize],
                                   const std::vector<uint8_t>& payload, bool encrypt,
                                   std::vector<uint8_t>* cipher) {
  uint8_t iv[12] = {header[3],  0,          0,          0,          header[16], header[17],
                    header[18], header[19], header[24], header[25], header[26], header[27]};
  uint8_t aad[kHeaderSize];
  std::copy(header, header + kHeaderSize, aad);
  aad[28] = aad[29] = aad[30] = aad[31] = 0;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), iv), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, nullptr, &n, aad, kHeaderSize), 1);
  std::vector<uint8_t> out(payload.size());
  if (encrypt) {
    EXPECT_EQ(EVP_EncryptUpdate(ctx, out.data(), &n, payload.data(), int(payload.size())), 1);
  } else {
    EXPECT_EQ(EVP_EncryptUpdate(ctx, nullptr, &n, payload.data(), int(payload.size())), 1);
  }
  uint8_t rest[16];
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx, rest, &n), 1);
  std::vector<uint8_t> tag(16);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag.data()), 1);
  EVP_CIPHER_CTX_free(ctx);
  if (cipher) *cipher = out;
  return tag;
}

class FrameCryptoTest : public ::testing::TestWithParam<FrameProtection> {};

TEST_P(FrameCryptoTest, MatchesTheDocumentedConstruction) {
  auto fc = FrameCrypto::create(key_of(1), GetParam());
  ASSERT_TRUE(fc.ok()) << fc.error();
  std::vector<uint8_t> plain;
  Frame f = make_frame(*fc, 77, 123456, 1408, &plain);
  std::vector<uint8_t> cipher;
  std::vector<uint8_t> want =
      reference_tag(key_of(1), f.header, plain, GetParam() == FrameProtection::kEncrypt, &cipher);
  EXPECT_EQ(std::vector<uint8_t>(f.tag, f.tag + 16), want);
  if (GetParam() == FrameProtection::kEncrypt) {
    EXPECT_EQ(f.payload, cipher);
    EXPECT_NE(f.payload, plain) << "encrypt mode must not leave the payload in the clear";
  } else {
    EXPECT_EQ(f.payload, plain) << "auth mode leaves the payload in the clear";
  }
}

TEST_P(FrameCryptoTest, OpensWhatItSealedAndRecoversThePayload) {
  auto fc = FrameCrypto::create(key_of(2), GetParam());
  ASSERT_TRUE(fc.ok());
  for (size_t len : {size_t{1}, size_t{15}, size_t{16}, size_t{1408}, size_t{9000}}) {
    std::vector<uint8_t> plain;
    Frame f = make_frame(*fc, 3, static_cast<uint32_t>(len), len, &plain);
    std::vector<uint8_t> out(len, 0xee);
    ASSERT_TRUE(fc->open(f.header, f.payload, {f.tag, kFrameTagSize}, out.data())) << len;
    if (GetParam() == FrameProtection::kEncrypt) {
      EXPECT_EQ(out, plain) << len;
    }
  }
}

TEST_P(FrameCryptoTest, AnyFlippedBitOutsideTheCrcIsRejected) {
  auto fc = FrameCrypto::create(key_of(3), GetParam());
  ASSERT_TRUE(fc.ok());
  Frame f = make_frame(*fc, 9, 42, 64);
  std::vector<uint8_t> out(64);
  // Header bytes (CRC field excluded: the tag covers the header with a zero CRC).
  for (size_t i = 0; i < kHeaderSize; ++i) {
    Frame g = f;
    g.header[i] ^= 0x01;
    const bool crc_field = i >= 28;
    EXPECT_EQ(fc->open(g.header, g.payload, {g.tag, kFrameTagSize}, out.data()), crc_field)
        << "header byte " << i;
  }
  for (size_t i = 0; i < f.payload.size(); ++i) {
    Frame g = f;
    g.payload[i] ^= 0x80;
    EXPECT_FALSE(fc->open(g.header, g.payload, {g.tag, kFrameTagSize}, out.data())) << i;
  }
  for (size_t i = 0; i < kFrameTagSize; ++i) {
    Frame g = f;
    g.tag[i] ^= 0x10;
    EXPECT_FALSE(fc->open(g.header, g.payload, {g.tag, kFrameTagSize}, out.data())) << i;
  }
  EXPECT_FALSE(fc->open(f.header, f.payload, {f.tag, 15}, out.data())) << "short tag";
}

TEST_P(FrameCryptoTest, AnotherKeyCannotOpenIt) {
  auto a = FrameCrypto::create(key_of(4), GetParam());
  auto b = FrameCrypto::create(key_of(5), GetParam());
  ASSERT_TRUE(a.ok() && b.ok());
  Frame f = make_frame(*a, 1, 1, 100);
  std::vector<uint8_t> out(100);
  EXPECT_FALSE(b->open(f.header, f.payload, {f.tag, kFrameTagSize}, out.data()));
}

TEST_P(FrameCryptoTest, SequenceAndBlockEnterTheNonce) {
  auto fc = FrameCrypto::create(key_of(6), GetParam());
  ASSERT_TRUE(fc.ok());
  // Same payload bytes, different position: a frame cannot be moved to another slot.
  Frame a = make_frame(*fc, 5, 100, 32);
  Frame b = make_frame(*fc, 6, 100, 32);
  Frame c = make_frame(*fc, 5, 101, 32);
  EXPECT_NE(std::vector<uint8_t>(a.tag, a.tag + 16), std::vector<uint8_t>(b.tag, b.tag + 16));
  EXPECT_NE(std::vector<uint8_t>(a.tag, a.tag + 16), std::vector<uint8_t>(c.tag, c.tag + 16));
  uint8_t iv_a[kFrameIvSize], iv_b[kFrameIvSize];
  frame_iv(a.header, iv_a);
  frame_iv(b.header, iv_b);
  EXPECT_NE(std::vector<uint8_t>(iv_a, iv_a + 12), std::vector<uint8_t>(iv_b, iv_b + 12));
}

INSTANTIATE_TEST_SUITE_P(Modes, FrameCryptoTest,
                         ::testing::Values(FrameProtection::kAuth, FrameProtection::kEncrypt));

TEST(FrameCrypto, AuthTagDoesNotOpenAnEncryptedFrame) {
  auto auth = FrameCrypto::create(key_of(7), FrameProtection::kAuth);
  auto enc = FrameCrypto::create(key_of(7), FrameProtection::kEncrypt);
  ASSERT_TRUE(auth.ok() && enc.ok());
  Frame f = make_frame(*enc, 1, 1, 64);
  std::vector<uint8_t> out(64);
  EXPECT_FALSE(auth->open(f.header, f.payload, {f.tag, kFrameTagSize}, out.data()));
}

TEST(FrameCrypto, NoneIsNotAProtection) {
  EXPECT_FALSE(FrameCrypto::create(key_of(8), FrameProtection::kNone).ok());
  EXPECT_EQ(protection_flags(FrameProtection::kNone), 0);
  EXPECT_EQ(protection_flags(FrameProtection::kAuth), kFlagAuth);
  EXPECT_EQ(protection_flags(FrameProtection::kEncrypt), kFlagAuth | kFlagEncrypted);
}

}  // namespace
}  // namespace shoal::engine
