// Data-frame authentication and encryption: AES-256-GCM (OpenSSL EVP) under a per-session key.
//
//   IV (12 bytes)  = frame type (1) || 0 0 0 || block (u32 BE) || sequence (u32 BE)
//   kAuth (GMAC)   : AAD = the 32 header bytes with the CRC field zero, then the payload;
//                    nothing encrypted; the payload travels in the clear.
//   kEncrypt (AEAD): AAD = the 32 header bytes with the CRC field zero; the payload is encrypted.
//   Tag            : 16 bytes after the payload (header flags AUTH [| ENCRYPTED], tag_len 16).
//
// The IV is unique per key as long as the sender never repeats (type, block, sequence) within a
// session: the sequence counts every frame of a type once (the sender stops before it wraps) and
// the key is fresh for every session. Session DATA frames with a tag carry no CRC32C (field 0,
// engine/frame_builder.h): the tag covers everything it would, and receivers check the tag.
//
// One FrameCrypto per thread (the EVP contexts carry per-call state); create() does the key
// schedule once, seal()/open() allocate nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/result.h"
#include "engine/wire.h"

namespace shoal::engine {

inline constexpr size_t kFrameTagSize = 16;
inline constexpr size_t kFrameKeySize = 32;
inline constexpr size_t kFrameIvSize = 12;
using FrameKey = std::array<uint8_t, kFrameKeySize>;

enum class FrameProtection : uint8_t {
  kNone,     // no tag
  kAuth,     // GMAC: integrity and origin, payload in the clear
  kEncrypt,  // AES-GCM: integrity, origin and confidentiality of the payload
};

// The header flags a frame of this protection carries (0, AUTH, AUTH|ENCRYPTED).
uint8_t protection_flags(FrameProtection protection) noexcept;

// The GCM nonce of a frame, from its encoded header.
void frame_iv(const uint8_t header[kHeaderSize], uint8_t iv[kFrameIvSize]) noexcept;

class FrameCrypto {
 public:
  // Errors only when OpenSSL cannot set up AES-256-GCM. protection must not be kNone.
  static Result<FrameCrypto> create(const FrameKey& key, FrameProtection protection);

  FrameCrypto(FrameCrypto&&) noexcept;
  FrameCrypto& operator=(FrameCrypto&&) noexcept;
  ~FrameCrypto();

  FrameProtection protection() const noexcept { return protection_; }

  // Sender. `header` holds the encoded fields with a zero CRC field (encode_header_fields), its
  // flags and tag_len already saying AUTH [| ENCRYPTED] and 16. With kEncrypt the ciphertext goes
  // to cipher_out (payload.size() bytes; may be payload.data() itself); with kAuth cipher_out is
  // not used. Writes the tag. Returns false only if OpenSSL fails.
  bool seal(const uint8_t header[kHeaderSize], std::span<const uint8_t> payload,
            uint8_t* cipher_out, uint8_t tag[kFrameTagSize]) noexcept;

  // Receiver. `header` is the frame's 32 bytes as received (the CRC field is ignored). Returns
  // true when the tag is right; with kEncrypt the plaintext is then in plain_out (payload.size()
  // bytes, must not overlap the payload). On false, plain_out holds nothing usable.
  bool open(const uint8_t header[kHeaderSize], std::span<const uint8_t> payload,
            std::span<const uint8_t> tag, uint8_t* plain_out) noexcept;

 private:
  struct Contexts;
  FrameCrypto(std::unique_ptr<Contexts> c, FrameProtection protection);
  std::unique_ptr<Contexts> c_;
  FrameProtection protection_;
};

}  // namespace shoal::engine
