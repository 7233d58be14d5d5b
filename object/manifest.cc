#include "object/manifest.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <future>
#include <stdexcept>

namespace shoal::object {

Digest sha256(std::span<const uint8_t> data) {
  Digest d;
  SHA256(data.data(), data.size(), d.data());
  return d;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL cannot initialise SHA-256");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

void Sha256::update(std::span<const uint8_t> data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

Digest Sha256::finish() {
  Digest d;
  unsigned len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), d.data(), &len);
  return d;
}

Manifest build_manifest(std::span<const uint8_t> object, const fec::BlockLayout& layout) {
  Manifest m;
  m.block_sha256.resize(layout.block_count());
  // The whole-object digest runs on a second core while this one hashes the blocks: the
  // manifest is on the session's start-up path.
  auto whole = std::async(std::launch::async, [object] { return sha256(object); });
  for (uint32_t b = 0; b < layout.block_count(); ++b) {
    m.block_sha256[b] = sha256(object.subspan(layout.block_offset(b), layout.block_bytes(b)));
  }
  m.object_sha256 = whole.get();
  return m;
}

}  // namespace shoal::object
