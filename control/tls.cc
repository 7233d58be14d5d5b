#include "control/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

namespace shoal::control {

namespace {

constexpr char kExporterLabel[] = "EXPORTER-shoal-v1 channel";

// The first queued OpenSSL error as text, and the queue cleared.
std::string openssl_error() {
  std::string text;
  unsigned long e = 0;
  while ((e = ERR_get_error()) != 0) {
    if (text.empty()) {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      text = buf;
    }
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

SSL_CTX* as_ctx(void* p) {
  return static_cast<SSL_CTX*>(p);
}
SSL* as_ssl(void* p) {
  return static_cast<SSL*>(p);
}

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::create(Role role, const TlsFiles& files) {
  if (files.cert.empty() || files.key.empty() || files.ca.empty()) {
    return make_error("TLS needs all of --tls-cert, --tls-key and --tls-ca");
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(role == Role::kServer ? TLS_server_method() : TLS_client_method());
  if (!ctx) return make_error("cannot create a TLS context: " + openssl_error());
  std::shared_ptr<TlsContext> out(new TlsContext(role, ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  // The write queue may grow and move between retries of one SSL_write.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_num_tickets(ctx, 0);  // one connection per session: nothing to resume
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
    return make_error("--tls-cert '" + files.cert + "': " + openssl_error() +
                      " (expected a PEM certificate)");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string why = openssl_error();
    if (why.find("mismatch") != std::string::npos) {
      return make_error("--tls-key '" + files.key + "' does not belong to --tls-cert '" +
                        files.cert + "'");
    }
    return make_error("--tls-key '" + files.key + "': " + why + " (expected a PEM private key)");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return make_error("--tls-key '" + files.key + "' does not belong to --tls-cert '" + files.cert +
                      "'");
  }
  if (SSL_CTX_load_verify_locations(ctx, files.ca.c_str(), nullptr) != 1) {
    return make_error("--tls-ca '" + files.ca + "': " + openssl_error() +
                      " (expected PEM CA certificates)");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return out;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(as_ctx(ctx_));
}

Result<std::unique_ptr<TlsStream>> TlsStream::create(std::shared_ptr<TlsContext> ctx, int fd) {
  SSL* ssl = SSL_new(as_ctx(ctx->native()));
  if (!ssl) return make_error("cannot create a TLS session: " + openssl_error());
  const bool server = ctx->role() == TlsContext::Role::kServer;
  std::unique_ptr<TlsStream> s(new TlsStream(std::move(ctx), ssl));
  if (SSL_set_fd(ssl, fd) != 1) return make_error("cannot attach TLS: " + openssl_error());
  if (server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return s;
}

TlsStream::~TlsStream() {
  SSL_free(as_ssl(ssl_));
}

long TlsStream::result(int ret) {
  if (ret > 0) return ret;
  const int err = SSL_get_error(as_ssl(ssl_), ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return kClosed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        if (errno == 0 || errno == EPIPE || errno == ECONNRESET) return kClosed;
        error_ = std::strerror(errno);
        return kFailed;
      }
      break;
    default:
      break;
  }
  const long verify = SSL_get_verify_result(as_ssl(ssl_));
  error_ = openssl_error();
  if (verify != X509_V_OK) {
    error_ += std::string(" (peer certificate: ") + X509_verify_cert_error_string(verify) +
              "; is it signed by --tls-ca?)";
  }
  return kFailed;
}

long TlsStream::read(std::span<uint8_t> out) {
  ERR_clear_error();
  errno = 0;
  return result(SSL_read(as_ssl(ssl_), out.data(), static_cast<int>(out.size())));
}

long TlsStream::write(std::span<const uint8_t> in) {
  ERR_clear_error();
  errno = 0;
  return result(SSL_write(as_ssl(ssl_), in.data(), static_cast<int>(in.size())));
}

long TlsStream::handshake() {
  if (established()) return 1;
  ERR_clear_error();
  errno = 0;
  return result(SSL_do_handshake(as_ssl(ssl_)));
}

void TlsStream::shutdown() {
  if (established()) (void)SSL_shutdown(as_ssl(ssl_));
}

bool TlsStream::established() const {
  return SSL_is_init_finished(as_ssl(ssl_)) == 1;
}

std::optional<Key> TlsStream::channel_key() const {
  if (!established()) return std::nullopt;
  Key k{};
  if (SSL_export_keying_material(as_ssl(ssl_), k.data(), k.size(), kExporterLabel,
                                 std::strlen(kExporterLabel), nullptr, 0, 0) != 1) {
    return std::nullopt;
  }
  return k;
}

std::string TlsStream::peer_common_name() const {
  X509* cert = SSL_get1_peer_certificate(as_ssl(ssl_));
  if (!cert) return {};
  char buf[256] = {};
  const int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  X509_free(cert);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

Result<std::shared_ptr<TlsContext>> tls_context_for(TlsContext::Role role, const TlsFiles& files) {
  if (!files.enabled()) return std::shared_ptr<TlsContext>();
  return TlsContext::create(role, files);
}

Status require_authentication(bool has_key, bool insecure, bool tls) {
  if (has_key || insecure || tls) return {};
  return make_error(
      "no key: pass --key-file FILE (make one with `shoal keygen > shoal.key`), TLS certificates "
      "(--tls-cert/--tls-key/--tls-ca), or --insecure");
}

Key combine_channel_keys(const Key& psk_channel, const Key& tls_channel) {
  uint8_t ikm[2 * kKeySize];
  std::memcpy(ikm, psk_channel.data(), kKeySize);
  std::memcpy(ikm + kKeySize, tls_channel.data(), kKeySize);
  return hkdf_sha256(ikm, {}, "shoal-v1 channel both");
}

std::optional<Key> channel_key_of(const std::optional<Key>& psk_channel,
                                  const std::optional<Key>& tls_channel) {
  if (psk_channel && tls_channel) return combine_channel_keys(*psk_channel, *tls_channel);
  if (psk_channel) return psk_channel;
  return tls_channel;
}

}  // namespace shoal::control
