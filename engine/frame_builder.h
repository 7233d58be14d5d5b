// FrameBuilder: frames the session's symbols and beacons for the wire -- header, then the AES-GCM
// tag (engine/frame_crypto.h) or, without one, the CRC32C (a DATA frame with a tag carries CRC 0:
// the tag covers all the CRC would) -- and owns the sequence counters, so every frame of a
// session (multicast passes and unicast repair alike) gets its own (type, block, sequence) and
// thereby its own GCM nonce. Nothing is allocated per frame: callers pass the slots.
#pragma once

#include <cstdint>
#include <optional>

#include "common/result.h"
#include "engine/frame_crypto.h"
#include "engine/transport.h"
#include "engine/wire.h"

namespace shoal::engine {

class FrameBuilder {
 public:
  static constexpr size_t kBeaconPayload = 8;  // the beacon nonce, u64 BE

  FrameBuilder(uint64_t session_id, std::optional<engine::FrameCrypto> crypto)
      : session_(session_id), crypto_(std::move(crypto)) {}

  size_t tag_len() const { return crypto_ ? engine::kFrameTagSize : 0; }
  bool encrypting() const {
    return crypto_ && crypto_->protection() == engine::FrameProtection::kEncrypt;
  }

  // One DATA frame for symbol `esi` of `block` (k source symbols), payload `sym` bytes. Writes the
  // header into header[32], the tag into tag[16] and, when encrypting, the ciphertext into
  // cipher[sym]; `out` then gathers the pieces. Fails when the sequence space of the session is
  // used up (2^32 frames) or OpenSSL fails.
  Status data(uint32_t block, uint8_t k, uint8_t esi, const uint8_t* payload, uint16_t sym,
              uint8_t* header, uint8_t* tag, uint8_t* cipher, engine::TxFrame& out);

  // A whole BEACON frame carrying `nonce` into out[] (at least 32 + 8 + 16 bytes); its length.
  size_t beacon(uint64_t nonce, uint8_t* out);

  uint64_t frames() const { return next_sequence_; }

 private:
  uint64_t session_;
  std::optional<engine::FrameCrypto> crypto_;
  uint64_t next_sequence_ = 0;
  uint32_t beacon_sequence_ = 0;
};

}  // namespace shoal::engine
