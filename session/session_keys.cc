#include "session/session_keys.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace shoal::session {

namespace {

// v2: the seal also covers the object's name and size, the layout and the group (issue #15).
// v3: the block hashes and the object digest left the seal: they stream after the grant
// (issue #14), each message tagged (session/manifest_seal.h).
constexpr std::string_view kLabel = "shoal-v3 keygrant";

template <typename T>
void put_be(std::vector<uint8_t>& v, T x) {
  for (int i = int{sizeof(T)} - 1; i >= 0; --i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

std::vector<uint8_t> grant_aad(const control::Session& s, control::FrameSuite suite,
                               control::KeyWrap wrap) {
  std::vector<uint8_t> aad(kLabel.begin(), kLabel.end());
  put_be(aad, s.session_id);
  aad.push_back(static_cast<uint8_t>(suite));
  aad.push_back(static_cast<uint8_t>(wrap));
  aad.push_back(s.object_format);  // tree / zstd: how the verified bytes are to be used
  // What the object is called and how it is cut and sent: the name picks a receiver's
  // destination (recvd --map, recv --announce --object), the rest must not be changed on the way.
  put_be(aad, s.object_size);
  put_be(aad, s.symbol_size);
  aad.push_back(s.k);
  put_be(aad, s.block_count);
  put_be(aad, s.group_ipv4);
  put_be(aad, s.port);
  put_be(aad, static_cast<uint16_t>(s.object_name.size()));
  aad.insert(aad.end(), s.object_name.begin(), s.object_name.end());
  put_be(aad, s.progress_interval_ms);  // 0 would silence repair during the pass
  return aad;
}

}  // namespace

DataKey make_data_key(control::FrameSuite suite) {
  DataKey k;
  k.suite = suite;
  if (RAND_bytes(k.key.data(), static_cast<int>(k.key.size())) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  return k;
}

engine::FrameProtection protection_of(control::FrameSuite suite) {
  switch (suite) {
    case control::FrameSuite::kNone:
      return engine::FrameProtection::kNone;
    case control::FrameSuite::kGmac:
      return engine::FrameProtection::kAuth;
    case control::FrameSuite::kAeadGcm:
      return engine::FrameProtection::kEncrypt;
  }
  return engine::FrameProtection::kNone;
}

control::KeyGrant seal_key_grant(const DataKey& key, const std::optional<control::Key>& channel,
                                 const control::Session& session) {
  control::KeyGrant g;
  g.suite = key.suite;
  if (!channel) {
    g.wrap = control::KeyWrap::kClear;
    g.key = key.key;
    return g;
  }
  g.wrap = control::KeyWrap::kChannel;
  if (RAND_bytes(g.iv.data(), static_cast<int>(g.iv.size())) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  const std::vector<uint8_t> aad = grant_aad(session, g.suite, g.wrap);
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  uint8_t rest[16];
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, channel->data(), g.iv.data()) !=
          1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), g.key.data(), &n, key.key.data(),
                        static_cast<int>(key.key.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), rest, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(g.tag.size()),
                          g.tag.data()) != 1) {
    throw std::runtime_error("OpenSSL AES-256-GCM failed sealing the data key");
  }
  return g;
}

Result<DataKey> open_key_grant(const control::KeyGrant& grant,
                               const std::optional<control::Key>& channel,
                               const control::Session& session) {
  DataKey k;
  k.suite = grant.suite;
  if (grant.wrap == control::KeyWrap::kClear) {
    if (channel) {
      return make_error(
          "sender sent the data key unprotected although this connection is authenticated "
          "(a downgrade on the path, or a broken sender): refusing");
    }
    k.key = grant.key;
    return k;
  }
  if (!channel) {
    return make_error(
        "sender sealed the data key for an authenticated channel, but this receiver joined "
        "without a key: use the sender's --key-file (or TLS)");
  }
  const std::vector<uint8_t> aad = grant_aad(session, grant.suite, grant.wrap);
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  control::Digest tag;
  std::memcpy(tag.data(), grant.tag.data(), grant.tag.size());
  int n = 0;
  uint8_t rest[16];
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, channel->data(), grant.iv.data()) !=
          1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), k.key.data(), &n, grant.key.data(),
                        static_cast<int>(grant.key.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(grant.tag.size()),
                          tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), rest, &n) != 1) {
    return make_error(
        "the session key from the sender does not verify: the session description was altered "
        "on the way, or the channel keys differ");
  }
  return k;
}

}  // namespace shoal::session
