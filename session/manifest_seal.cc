#include "session/manifest_seal.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "object/manifest.h"

namespace shoal::session {

namespace {

constexpr std::string_view kKeyLabel = "shoal-v3 manifest key";
constexpr std::string_view kLabel = "shoal-v3 manifest";
constexpr std::string_view kEndLabel = "shoal-v3 manifest end";

template <typename T>
void put_be(std::vector<uint8_t>& v, T x) {
  for (int i = int{sizeof(T)} - 1; i >= 0; --i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

control::ManifestTag truncate(const control::Key& mac) {
  control::ManifestTag t{};
  std::copy_n(mac.begin(), t.size(), t.begin());
  return t;
}

bool same(const control::ManifestTag& a, const control::ManifestTag& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

ManifestSeal::ManifestSeal(const std::optional<control::Key>& channel, uint64_t session_id)
    : session_id_(session_id) {
  if (channel) {
    mkey_ = control::hmac_sha256(
        *channel, {reinterpret_cast<const uint8_t*>(kKeyLabel.data()), kKeyLabel.size()});
  }
}

control::Digest ManifestSeal::digest_of(std::span<const control::Digest> hashes) {
  object::Sha256 h;
  for (const control::Digest& d : hashes) h.update(d);
  return h.finish();
}

control::ManifestTag ManifestSeal::tag(uint32_t first_block, uint32_t count,
                                       const control::Digest& hashes_digest) const {
  if (!mkey_) return {};
  std::vector<uint8_t> msg(kLabel.begin(), kLabel.end());
  put_be(msg, session_id_);
  put_be(msg, first_block);
  put_be(msg, count);
  msg.insert(msg.end(), hashes_digest.begin(), hashes_digest.end());
  return truncate(control::hmac_sha256(*mkey_, msg));
}

control::ManifestTag ManifestSeal::end_tag(uint32_t block_count,
                                           const control::Digest& object_sha256) const {
  if (!mkey_) return {};
  std::vector<uint8_t> msg(kEndLabel.begin(), kEndLabel.end());
  put_be(msg, session_id_);
  put_be(msg, block_count);
  msg.insert(msg.end(), object_sha256.begin(), object_sha256.end());
  return truncate(control::hmac_sha256(*mkey_, msg));
}

bool ManifestSeal::verify(const control::Manifest& m) const {
  if (!mkey_) return true;
  return same(m.tag, tag(m.first_block, static_cast<uint32_t>(m.block_hashes.size()),
                         digest_of(m.block_hashes)));
}

bool ManifestSeal::verify(const control::ManifestEnd& m, uint32_t block_count) const {
  if (!mkey_) return true;
  return same(m.tag, end_tag(block_count, m.object_sha256));
}

}  // namespace shoal::session
