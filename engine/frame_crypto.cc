#include "engine/frame_crypto.h"

#include <openssl/evp.h>

#include <cstring>

namespace shoal::engine {

namespace {
constexpr size_t kCrcOffset = 28;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;
}  // namespace

// One context per direction: an EVP context keyed for encryption cannot decrypt.
struct FrameCrypto::Contexts {
  CtxPtr enc, dec;
};

uint8_t protection_flags(FrameProtection protection) noexcept {
  switch (protection) {
    case FrameProtection::kNone:
      return 0;
    case FrameProtection::kAuth:
      return kFlagAuth;
    case FrameProtection::kEncrypt:
      return kFlagAuth | kFlagEncrypted;
  }
  return 0;
}

void frame_iv(const uint8_t header[kHeaderSize], uint8_t iv[kFrameIvSize]) noexcept {
  iv[0] = header[3];  // type
  iv[1] = iv[2] = iv[3] = 0;
  std::memcpy(iv + 4, header + 16, 4);  // block, big-endian as on the wire
  std::memcpy(iv + 8, header + 24, 4);  // sequence
}

Result<FrameCrypto> FrameCrypto::create(const FrameKey& key, FrameProtection protection) {
  if (protection == FrameProtection::kNone) {
    return make_error("FrameCrypto needs a protection other than none");
  }
  auto c = std::make_unique<Contexts>();
  c->enc.reset(EVP_CIPHER_CTX_new());
  c->dec.reset(EVP_CIPHER_CTX_new());
  if (!c->enc || !c->dec ||
      EVP_EncryptInit_ex(c->enc.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1 ||
      EVP_DecryptInit_ex(c->dec.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1) {
    return make_error("OpenSSL cannot set up AES-256-GCM for data frames");
  }
  return FrameCrypto(std::move(c), protection);
}

FrameCrypto::FrameCrypto(std::unique_ptr<Contexts> c, FrameProtection protection)
    : c_(std::move(c)), protection_(protection) {}
FrameCrypto::FrameCrypto(FrameCrypto&&) noexcept = default;
FrameCrypto& FrameCrypto::operator=(FrameCrypto&&) noexcept = default;
FrameCrypto::~FrameCrypto() = default;

bool FrameCrypto::seal(const uint8_t header[kHeaderSize], std::span<const uint8_t> payload,
                       uint8_t* cipher_out, uint8_t tag[kFrameTagSize]) noexcept {
  EVP_CIPHER_CTX* ctx = c_->enc.get();
  uint8_t iv[kFrameIvSize];
  frame_iv(header, iv);
  int n = 0;
  const int len = static_cast<int>(payload.size());
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return false;
  if (EVP_EncryptUpdate(ctx, nullptr, &n, header, static_cast<int>(kHeaderSize)) != 1) {
    return false;
  }
  if (protection_ == FrameProtection::kEncrypt) {
    if (EVP_EncryptUpdate(ctx, cipher_out, &n, payload.data(), len) != 1) return false;
  } else if (EVP_EncryptUpdate(ctx, nullptr, &n, payload.data(), len) != 1) {
    return false;
  }
  uint8_t rest[16];
  if (EVP_EncryptFinal_ex(ctx, rest, &n) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kFrameTagSize), tag) == 1;
}

bool FrameCrypto::open(const uint8_t header[kHeaderSize], std::span<const uint8_t> payload,
                       std::span<const uint8_t> tag, uint8_t* plain_out) noexcept {
  if (tag.size() != kFrameTagSize) return false;
  EVP_CIPHER_CTX* ctx = c_->dec.get();
  uint8_t aad[kHeaderSize];
  std::memcpy(aad, header, kHeaderSize);
  std::memset(aad + kCrcOffset, 0, 4);
  uint8_t iv[kFrameIvSize];
  frame_iv(header, iv);
  int n = 0;
  const int len = static_cast<int>(payload.size());
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return false;
  if (EVP_DecryptUpdate(ctx, nullptr, &n, aad, static_cast<int>(kHeaderSize)) != 1) return false;
  if (protection_ == FrameProtection::kEncrypt) {
    if (EVP_DecryptUpdate(ctx, plain_out, &n, payload.data(), len) != 1) return false;
  } else if (EVP_DecryptUpdate(ctx, nullptr, &n, payload.data(), len) != 1) {
    return false;
  }
  // The tag is only read; OpenSSL's ctrl takes a non-const pointer.
  uint8_t expected[kFrameTagSize];
  std::memcpy(expected, tag.data(), kFrameTagSize);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kFrameTagSize), expected) !=
      1) {
    return false;
  }
  uint8_t rest[16];
  return EVP_DecryptFinal_ex(ctx, rest, &n) == 1;
}

}  // namespace shoal::engine
