// TLS 1.3 for the control connection (OpenSSL), for deployments that want certificates instead of
// (or on top of) the pre-shared key: --tls-cert, --tls-key, --tls-ca on both ends.
//
// Both ends present a certificate and verify the other's against the CA (mutual TLS); the
// identity of a receiver is its certificate's subject CN (usable in the sender's --allow cn:...).
// Host names are not checked: receivers reach senders by address, and the CA is the project's own.
// Each connection exports a channel key from the TLS session (RFC 8446 exporter, label
// "EXPORTER-shoal-v1 channel"), which seals the session's data key like the PSK channel key does.
//
// TlsStream does non-blocking I/O on a connected socket; the handshake runs inside the first
// reads and writes. Not thread-safe: one per connection, used from the loop's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/result.h"
#include "control/auth.h"

namespace shoal::control {

struct TlsFiles {
  std::string cert, key, ca;  // PEM files; all three or none
  bool enabled() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

class TlsContext {
 public:
  enum class Role { kServer, kClient };
  // Errors name the file and the problem (unreadable, not PEM, key does not match the cert).
  static Result<std::shared_ptr<TlsContext>> create(Role role, const TlsFiles& files);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Role role() const { return role_; }
  void* native() const { return ctx_; }  // SSL_CTX*

 private:
  TlsContext(Role role, void* ctx) : role_(role), ctx_(ctx) {}
  Role role_;
  void* ctx_;
};

class TlsStream {
 public:
  // Takes part in `fd` (not owned; the Connection owns it).
  static Result<std::unique_ptr<TlsStream>> create(std::shared_ptr<TlsContext> ctx, int fd);
  ~TlsStream();

  // Results of read/write: bytes moved (> 0), or one of these.
  static constexpr long kWantRead = -1;   // nothing now; call again when the socket is readable
  static constexpr long kWantWrite = -2;  // ... when it is writable
  static constexpr long kClosed = -3;     // the peer closed the TLS session
  static constexpr long kFailed = -4;     // error(): handshake or protocol failure

  long read(std::span<uint8_t> out);
  long write(std::span<const uint8_t> in);
  // Drives the handshake without application data (a client starts it this way).
  long handshake();
  // Sends close_notify (best effort; the socket is shut down right after).
  void shutdown();

  bool established() const;
  const std::string& error() const { return error_; }
  // Valid once established.
  std::optional<Key> channel_key() const;
  std::string peer_common_name() const;

 private:
  TlsStream(std::shared_ptr<TlsContext> ctx, void* ssl) : ctx_(std::move(ctx)), ssl_(ssl) {}
  long result(int ret);
  std::shared_ptr<TlsContext> ctx_;
  void* ssl_;
  std::string error_;
};

// The context the options ask for: nullptr when no --tls-* option was given, else as create().
Result<std::shared_ptr<TlsContext>> tls_context_for(TlsContext::Role role, const TlsFiles& files);

// Every end needs a way to authenticate its peer: a key, TLS, or an explicit --insecure. The error
// says how to get each.
Status require_authentication(bool has_key, bool insecure, bool tls);

// The channel key of a connection authenticated by both a PSK and TLS: both must be known to
// open the data key. HKDF-SHA256(ikm = psk_channel || tls_channel, info "shoal-v1 channel both").
Key combine_channel_keys(const Key& psk_channel, const Key& tls_channel);
// Whichever exist: both combined, one alone, or none.
std::optional<Key> channel_key_of(const std::optional<Key>& psk_channel,
                                  const std::optional<Key>& tls_channel);

}  // namespace shoal::control
