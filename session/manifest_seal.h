// Authenticators of the streamed manifest (control::Manifest, control::ManifestEnd).
//
// Block hashes go out after the KeyGrant, while the sender is still hashing, so the grant's seal
// cannot cover them. Each message carries its own tag under a key derived from the connection's
// channel key (the one that seals the KeyGrant):
//   mkey = HMAC-SHA256(channel key, "shoal-v3 manifest key")
//   Manifest:    tag = HMAC-SHA256(mkey, "shoal-v3 manifest" || session_id (u64 BE) ||
//                      first_block (u32 BE) || count (u32 BE) || SHA-256(hash 0 || ... ))[0..16)
//   ManifestEnd: tag = HMAC-SHA256(mkey, "shoal-v3 manifest end" || session_id ||
//                      block_count (u32 BE) || object_sha256)[0..16)
// so an attacker on the TCP path can neither change, move, drop the end of, nor replay from
// another session any block hash. The SHA-256 over a message's hashes is the same for every
// receiver: the sender computes it once per message and one short HMAC per receiver.
// Without a channel key (--insecure without TLS) tags are zero and not checked, as the KeyGrant
// then travels in the clear.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "control/auth.h"
#include "control/messages.h"

namespace shoal::session {

class ManifestSeal {
 public:
  ManifestSeal(const std::optional<control::Key>& channel, uint64_t session_id);

  // SHA-256 over a message's block hashes (shared by every receiver's tag).
  static control::Digest digest_of(std::span<const control::Digest> hashes);

  control::ManifestTag tag(uint32_t first_block, uint32_t count,
                           const control::Digest& hashes_digest) const;
  control::ManifestTag end_tag(uint32_t block_count, const control::Digest& object_sha256) const;

  // Constant-time checks; always true without a channel key.
  bool verify(const control::Manifest& m) const;
  bool verify(const control::ManifestEnd& m, uint32_t block_count) const;

 private:
  std::optional<control::Key> mkey_;
  uint64_t session_id_;
};

}  // namespace shoal::session
