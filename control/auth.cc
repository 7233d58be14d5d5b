#include "control/auth.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "common/fd.h"
#include "common/printable.h"

namespace shoal::control {
namespace {

constexpr std::string_view kServerLabel = "shoal-v1 server";
constexpr std::string_view kClientLabel = "shoal-v1 client";
constexpr size_t kMaxKeyFileBytes = 4096;

void random_bytes(uint8_t* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed: no secure random source available");
  }
}

Proof hmac(const Key& key, std::string_view label, const Nonce& a, const Nonce& b) {
  std::array<uint8_t, 15 + 2 * kNonceSize> msg{};
  static_assert(kServerLabel.size() == 15 && kClientLabel.size() == 15);
  std::memcpy(msg.data(), label.data(), label.size());
  std::memcpy(msg.data() + label.size(), a.data(), a.size());
  std::memcpy(msg.data() + label.size() + a.size(), b.data(), b.size());
  static_assert(sizeof(Proof) == sizeof(Key));
  const Key mac = hmac_sha256(key, msg);
  Proof out{};
  std::memcpy(out.data(), mac.data(), out.size());
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

std::string generate_key_text() {
  Key key{};
  random_bytes(key.data(), key.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(2 * key.size() + 1);
  for (uint8_t b : key) {
    text.push_back(kHex[b >> 4]);
    text.push_back(kHex[b & 0xf]);
  }
  text.push_back('\n');
  OPENSSL_cleanse(key.data(), key.size());
  return text;
}

Result<Key> parse_key_text(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (text.size() != 2 * kKeySize) {
    return make_error("holds " + std::to_string(text.size()) +
                      " characters; expected 64 hex digits (a 32-byte key)");
  }
  Key key{};
  for (size_t i = 0; i < text.size(); ++i) {
    const int v = hex_value(text[i]);
    if (v < 0) {
      return make_error("has a non-hex character at position " + std::to_string(i + 1) +
                        "; expected 64 hex digits (a 32-byte key)");
    }
    key[i / 2] = static_cast<uint8_t>((key[i / 2] << 4) | v);
  }
  return key;
}

Result<Key> load_key_file(const std::string& path, std::string* warning) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return make_error("cannot read key file '" + path + "': " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error("cannot stat key file '" + path + "': " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return make_error("key file '" + path + "' is not a regular file");
  std::string text(kMaxKeyFileBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error("cannot read key file '" + path + "': " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMaxKeyFileBytes) {
    return make_error("key file '" + path + "' is too large to be a key (expected 64 hex digits)");
  }
  text.resize(got);
  Result<Key> key = parse_key_text(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key) return make_error("key file '" + path + "' " + key.error());
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    std::string w =
        "key file '" + path + "' is readable by group or others; restrict it with chmod 600";
    spdlog::warn("{}", w);
    if (warning) *warning = std::move(w);
  }
  return key;
}

Key hmac_sha256(const Key& key, std::span<const uint8_t> message) {
  Key out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), message.data(), message.size(),
           out.data(), &len) == nullptr ||
      len != out.size()) {
    throw std::runtime_error("OpenSSL HMAC-SHA256 failed");
  }
  return out;
}

Nonce random_nonce() {
  Nonce n{};
  random_bytes(n.data(), n.size());
  return n;
}

Proof server_proof(const Key& key, const Nonce& client_nonce, const Nonce& server_nonce) {
  return hmac(key, kServerLabel, client_nonce, server_nonce);
}

Proof client_proof(const Key& key, const Nonce& server_nonce, const Nonce& client_nonce) {
  return hmac(key, kClientLabel, server_nonce, client_nonce);
}

bool proofs_equal(const Proof& a, const Proof& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// --- ServerHandshake ---

Message ServerHandshake::reject(std::string reason) {
  state_ = State::kRejected;
  reject_reason_ = reason;
  return Reject{std::move(reason)};
}

Message ServerHandshake::on_message(const Message& message) {
  switch (state_) {
    case State::kAwaitHello: {
      const Hello* hello = std::get_if<Hello>(&message);
      if (!hello) {
        return reject(std::string("protocol error: expected Hello, got ") + type_name(message));
      }
      receiver_name_ = hello->receiver_name;
      receiver_insecure_ = (hello->flags & kFlagInsecure) != 0;
      client_nonce_ = hello->client_nonce;
      if (key_ && receiver_insecure_) return reject(kReasonSenderNeedsKey);
      state_ = State::kAwaitAuth;
      Challenge c;
      c.server_nonce = server_nonce_;
      if (key_) {
        c.server_proof = server_proof(*key_, client_nonce_, server_nonce_);
      } else {
        // An insecure sender still answers a keyed receiver, which then refuses with its own
        // (more useful) message.
        c.flags = kFlagInsecure;
      }
      return c;
    }
    case State::kAwaitAuth: {
      const Auth* auth = std::get_if<Auth>(&message);
      if (!auth) {
        return reject(std::string("protocol error: expected Auth, got ") + type_name(message));
      }
      if (key_) {
        if (!proofs_equal(auth->client_proof, client_proof(*key_, server_nonce_, client_nonce_))) {
          return reject(kReasonWrongKey);
        }
      } else if (!receiver_insecure_) {
        return reject(kReasonReceiverInsecure);
      }
      state_ = State::kAccepted;
      return Accept{receiver_id_};
    }
    case State::kAccepted:
    case State::kRejected:
      break;
  }
  return reject(std::string("protocol error: ") + type_name(message) +
                " after the handshake ended");
}

std::optional<Key> ServerHandshake::channel_key() const {
  if (!key_ || state_ != State::kAccepted) return std::nullopt;
  return channel_key_from_psk(*key_, client_nonce_, server_nonce_);
}

// --- ClientHandshake ---

std::optional<Message> ClientHandshake::fail(std::string reason) {
  state_ = State::kFailed;
  failure_reason_ = std::move(reason);
  return std::nullopt;
}

Hello ClientHandshake::start() {
  state_ = State::kAwaitChallenge;
  Hello h;
  h.client_nonce = client_nonce_;
  h.flags = key_ ? 0 : kFlagInsecure;
  h.receiver_name = name_;
  return h;
}

std::optional<Message> ClientHandshake::on_message(const Message& message) {
  if (state_ == State::kJoined || state_ == State::kFailed || state_ == State::kIdle) {
    // The handshake is over (or not started); the caller routes later messages elsewhere.
    if (state_ == State::kJoined) return std::nullopt;
    return fail(std::string("protocol error: ") + type_name(message) +
                (state_ == State::kIdle ? " before the Hello was sent" : " after the failure"));
  }
  // Said by a peer that has proven nothing yet: escaped before anyone logs it.
  if (const Reject* r = std::get_if<Reject>(&message)) return fail(printable(r->reason));

  if (state_ == State::kAwaitChallenge) {
    const Challenge* c = std::get_if<Challenge>(&message);
    if (!c)
      return fail(std::string("protocol error: expected Challenge, got ") + type_name(message));
    const bool sender_insecure = (c->flags & kFlagInsecure) != 0;
    Auth auth;
    if (key_) {
      if (sender_insecure) return fail(kReasonSenderInsecure);
      if (!proofs_equal(c->server_proof, server_proof(*key_, client_nonce_, c->server_nonce))) {
        return fail(kReasonSenderUnproven);
      }
      auth.client_proof = client_proof(*key_, c->server_nonce, client_nonce_);
      server_nonce_ = c->server_nonce;
    } else if (!sender_insecure) {
      // A keyed sender rejects an insecure Hello, so it never sends this.
      return fail("protocol error: keyed sender sent a Challenge to an insecure receiver");
    }
    state_ = State::kAwaitAccept;
    return Message(auth);
  }

  // kAwaitAccept
  const Accept* a = std::get_if<Accept>(&message);
  if (!a) return fail(std::string("protocol error: expected Accept, got ") + type_name(message));
  receiver_id_ = a->receiver_id;
  state_ = State::kJoined;
  return std::nullopt;
}

std::optional<Key> ClientHandshake::channel_key() const {
  if (!key_ || state_ != State::kJoined) return std::nullopt;
  return channel_key_from_psk(*key_, client_nonce_, server_nonce_);
}

Key hkdf_sha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                std::string_view info) {
  Key out{};
  // RFC 5869: a missing salt is HashLen zero bytes (OpenSSL wants it spelled out).
  static const uint8_t kZeroSalt[32] = {};
  if (salt.empty()) salt = kZeroSalt;
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (!ctx) throw std::runtime_error("OpenSSL has no HKDF");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end(),
  };
  const int ok = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) throw std::runtime_error("OpenSSL HKDF-SHA256 failed");
  return out;
}

Key channel_key_from_psk(const Key& psk, const Nonce& client_nonce, const Nonce& server_nonce) {
  uint8_t salt[2 * kNonceSize];
  std::memcpy(salt, client_nonce.data(), kNonceSize);
  std::memcpy(salt + kNonceSize, server_nonce.data(), kNonceSize);
  return hkdf_sha256(psk, salt, "shoal-v1 channel");
}

}  // namespace shoal::control
