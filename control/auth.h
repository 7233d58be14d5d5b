// Pre-shared keys and the join handshake (mutual HMAC-SHA256 challenge-response).
//
//   R -> S  Hello     client_nonce, flags (insecure = receiver has no key), name
//   S -> R  Challenge server_nonce, flags (insecure = sender has no key),
//                     server_proof = HMAC(key, "shoal-v1 server" || client_nonce || server_nonce)
//   R -> S  Auth      client_proof = HMAC(key, "shoal-v1 client" || server_nonce || client_nonce)
//   S -> R  Accept(receiver_id) or Reject(reason)
//
// The receiver checks the server proof before it answers, so it never proves anything to a sender
// that does not hold the key. Distinct labels keep a proof from being reflected back to its
// maker. The key never crosses the wire. Insecure mode (no key, explicit --insecure) keeps the
// same message flow with zero proofs, and both sides must agree to it.
//
// Note: this authenticates the peers at join time only; later TCP traffic carries no MAC.
//
// ServerHandshake and ClientHandshake are pure state machines: messages in, replies out, no I/O
// and no randomness (callers pass nonces from random_nonce()). Not thread-safe; one per
// connection.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "control/messages.h"

namespace shoal::control {

inline constexpr size_t kKeySize = 32;
using Key = std::array<uint8_t, kKeySize>;

// 32 random bytes as 64 lowercase hex digits and a newline, the key file format.
// Throws std::runtime_error if the OpenSSL random generator fails.
std::string generate_key_text();

// Parses 64 hex digits (either case), ignoring surrounding whitespace.
Result<Key> parse_key_text(std::string_view text);

// Reads a key file. Errors name the path and the problem (missing/unreadable, wrong length,
// non-hex character). If the file is readable by group or others, the key is still returned, a
// warning is logged, and the warning text is stored in *warning when given.
Result<Key> load_key_file(const std::string& path, std::string* warning = nullptr);

// A fresh random nonce (OpenSSL RAND_bytes). Throws std::runtime_error if the generator fails.
Nonce random_nonce();

Proof server_proof(const Key& key, const Nonce& client_nonce, const Nonce& server_nonce);
Proof client_proof(const Key& key, const Nonce& server_nonce, const Nonce& client_nonce);

// HMAC-SHA256 of `message` under `key`. Throws std::runtime_error if OpenSSL fails.
Key hmac_sha256(const Key& key, std::span<const uint8_t> message);

// The channel key of a PSK-authenticated connection, known only to its two ends:
// HKDF-SHA256(ikm = psk, salt = client_nonce || server_nonce, info = "shoal-v1 channel").
// It protects the session's data key in the KeyGrant (session/session_keys.h).
Key channel_key_from_psk(const Key& psk, const Nonce& client_nonce, const Nonce& server_nonce);

// HKDF-SHA256 with the given input, salt and label, 32 bytes out. Throws std::runtime_error if
// OpenSSL fails.
Key hkdf_sha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt, std::string_view info);

// Constant-time comparison (CRYPTO_memcmp).
bool proofs_equal(const Proof& a, const Proof& b);

// Reject reasons, shared so both ends and tests use one wording.
inline constexpr const char* kReasonSenderNeedsKey = "this sender requires a key";
inline constexpr const char* kReasonWrongKey =
    "receiver failed to prove the key: wrong key on one side";
inline constexpr const char* kReasonSenderUnproven =
    "sender failed to prove the key: wrong key on one side";
inline constexpr const char* kReasonSenderInsecure =
    "sender runs without authentication; pass --insecure to accept";
inline constexpr const char* kReasonReceiverInsecure =
    "this sender runs without authentication; the receiver must pass --insecure too";

// Sender side, one per connection. Every reply is to be sent; after a Reject the sender closes
// the connection.
class ServerHandshake {
 public:
  enum class State { kAwaitHello, kAwaitAuth, kAccepted, kRejected };

  // key: std::nullopt = insecure sender. receiver_id goes into the Accept.
  ServerHandshake(std::optional<Key> key, uint32_t receiver_id, const Nonce& server_nonce)
      : key_(key), receiver_id_(receiver_id), server_nonce_(server_nonce) {}

  // Returns Challenge, Accept or Reject. Any message other than the expected one, including a
  // replayed Hello or anything after the handshake ended, gives Reject "protocol error: ...".
  Message on_message(const Message& message);

  State state() const { return state_; }
  bool accepted() const { return state_ == State::kAccepted; }
  // Valid once the Hello has been seen.
  const std::string& receiver_name() const { return receiver_name_; }
  bool receiver_insecure() const { return receiver_insecure_; }
  // Why the receiver was rejected (empty unless kRejected).
  const std::string& reject_reason() const { return reject_reason_; }
  // Once accepted with a key: the connection's channel key (channel_key_from_psk).
  std::optional<Key> channel_key() const;

 private:
  Message reject(std::string reason);

  std::optional<Key> key_;
  uint32_t receiver_id_;
  Nonce server_nonce_;
  Nonce client_nonce_{};
  State state_ = State::kAwaitHello;
  std::string receiver_name_;
  bool receiver_insecure_ = false;
  std::string reject_reason_;
};

// Receiver side.
class ClientHandshake {
 public:
  enum class State { kIdle, kAwaitChallenge, kAwaitAccept, kJoined, kFailed };

  // key: std::nullopt = insecure receiver (--insecure).
  ClientHandshake(std::optional<Key> key, std::string receiver_name, const Nonce& client_nonce)
      : key_(key), name_(std::move(receiver_name)), client_nonce_(client_nonce) {}

  // The first message to send. Call once.
  Hello start();

  // Feeds a message from the sender. Returns the reply to send (Auth after a valid Challenge),
  // or nothing. On failure state() is kFailed and failure_reason() says why; the receiver then
  // closes the connection. A Reject fails with the sender's reason verbatim.
  std::optional<Message> on_message(const Message& message);

  State state() const { return state_; }
  bool joined() const { return state_ == State::kJoined; }
  bool failed() const { return state_ == State::kFailed; }
  const std::string& failure_reason() const { return failure_reason_; }
  uint32_t receiver_id() const { return receiver_id_; }  // valid once joined
  // Once joined with a key: the connection's channel key (channel_key_from_psk).
  std::optional<Key> channel_key() const;

 private:
  std::optional<Message> fail(std::string reason);

  std::optional<Key> key_;
  std::string name_;
  Nonce client_nonce_;
  Nonce server_nonce_{};
  State state_ = State::kIdle;
  std::string failure_reason_;
  uint32_t receiver_id_ = 0;
};

}  // namespace shoal::control
