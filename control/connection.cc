#include "control/connection.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "control/endpoint.h"

namespace shoal::control {
namespace {

std::string errno_reason(const char* what, int err) {
  if (err == ECONNRESET) return "connection reset by peer";
  if (err == EPIPE) return "peer closed the connection";
  if (err == ETIMEDOUT) return "connection timed out (peer unreachable)";
  return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

Result<std::shared_ptr<Connection>> Connection::create(EventLoop& loop, Fd fd, Callbacks callbacks,
                                                       Limits limits,
                                                       std::shared_ptr<TlsContext> tls) {
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return make_error(std::string("cannot make the socket non-blocking: ") + std::strerror(errno));
  }
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  std::string peer_text = "unknown peer";
  if (::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
      peer.sin_family == AF_INET) {
    peer_text = format_endpoint(peer);
  }
  const int raw_fd = fd.get();
  std::shared_ptr<Connection> c(
      new Connection(loop, std::move(fd), std::move(callbacks), limits, std::move(peer_text)));
  c->interest_ = EPOLLIN;
  if (tls) {
    const TlsContext::Role role = tls->role();
    auto stream = TlsStream::create(std::move(tls), raw_fd);
    if (!stream) return make_error(stream.error());
    c->tls_ = std::move(*stream);
    if (role == TlsContext::Role::kClient) {
      const long h = c->tls_->handshake();  // sends the ClientHello
      // A peer that hangs up at once (a server without TLS reads the ClientHello as a bad frame
      // and closes) can fail the handshake already here. That is the peer's answer, not a local
      // fault: it reaches the owner through on_close like any later handshake failure.
      if (h == TlsStream::kFailed) c->failed_ = "TLS: " + c->tls_->error();
      if (h == TlsStream::kWantWrite) c->tls_wants_write_ = true;
    }
  }
  std::weak_ptr<Connection> weak = c;
  Status added = loop.add(raw_fd, c->interest_, [weak](uint32_t events) {
    if (auto self = weak.lock()) self->on_events(events);
  });
  if (added && !c->failed_.empty()) loop.again(raw_fd);
  if (!added) {
    c->fd_.reset();  // never registered; the destructor must not touch the loop
    return make_error(added.error());
  }
  c->update_interest();
  return c;
}

long Connection::io_read(std::span<uint8_t> buf, std::string& why) {
  if (tls_) {
    const long n = tls_->read(buf);
    if (n > 0) return n;
    if (n == TlsStream::kWantRead) return kIoAgain;
    if (n == TlsStream::kWantWrite) {
      tls_wants_write_ = true;
      return kIoAgain;
    }
    if (n == TlsStream::kClosed && tls_->established()) return kIoEof;
    why = n == TlsStream::kClosed
              ? "TLS handshake failed: the peer hung up (it does not trust this end's "
                "certificate: check that --tls-cert is signed by the CA the other end uses as "
                "--tls-ca)"
              : "TLS: " + tls_->error();
    return kIoError;
  }
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n > 0) return n;
    if (n == 0) return kIoEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return kIoAgain;
    why = errno_reason("read error", errno);
    return kIoError;
  }
}

long Connection::io_write(std::span<const uint8_t> buf, std::string& why) {
  if (tls_) {
    const long n = tls_->write(buf);
    if (n > 0) return n;
    if (n == TlsStream::kWantRead) return kIoAgain;  // EPOLLIN is on: on_readable retries
    if (n == TlsStream::kWantWrite) {
      tls_wants_write_ = true;
      return kIoAgain;
    }
    why = n == TlsStream::kClosed ? std::string("peer closed the connection")
                                  : "TLS: " + tls_->error();
    return kIoError;
  }
  for (;;) {
    const ssize_t n = ::send(fd_.get(), buf.data(), buf.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) return n;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return kIoAgain;
    why = errno_reason("write error", n < 0 ? errno : EPIPE);
    return kIoError;
  }
}

Connection::Connection(EventLoop& loop, Fd fd, Callbacks callbacks, Limits limits, std::string peer)
    : loop_(loop),
      fd_(std::move(fd)),
      cb_(std::move(callbacks)),
      limits_(limits),
      peer_(std::move(peer)),
      splitter_(limits.max_message_size) {}

Connection::~Connection() {
  // Destroyed while open: leave quietly (no on_close from a destructor). The loop must outlive
  // its connections.
  if (fd_) loop_.remove(fd_.get());
}

bool Connection::send(const Message& message) {
  if (!is_open() || closing_) return false;
  const bool was_idle = pending_output() == 0;
  encode(message, out_);
  // Only the first queued message is written here; later ones wait for EPOLLOUT, in order.
  if (was_idle && !flush()) return false;
  if (pending_output() > limits_.max_pending_output) {
    close("send queue over limit (" + std::to_string(pending_output()) + " bytes pending, limit " +
          std::to_string(limits_.max_pending_output) + "; peer is not reading)");
    return false;
  }
  update_interest();
  return true;
}

void Connection::close(const std::string& reason) {
  if (!is_open()) return;
  auto self = shared_from_this();  // on_close may drop the owner's last pointer
  loop_.remove(fd_.get());
  fd_.reset();
  std::vector<uint8_t>().swap(out_);
  out_head_ = 0;
  // Callbacks stay set: close() may run inside one of them (on_message -> close()).
  if (cb_.on_close) cb_.on_close(*this, reason);
}

void Connection::finish(const std::string& reason) {
  if (!is_open() || closing_) return;
  closing_ = true;
  closing_reason_ = reason;
  if (flush()) update_interest();
}

bool Connection::flush() {
  tls_wants_write_ = false;
  while (pending_output() > 0) {
    std::string why;
    const long n = io_write({out_.data() + out_head_, pending_output()}, why);
    if (n > 0) {
      out_head_ += static_cast<size_t>(n);
    } else if (n == kIoAgain) {
      break;
    } else {
      close(why);
      return false;
    }
  }
  if (pending_output() == 0) {
    out_.clear();
    out_head_ = 0;
    if (out_.capacity() > (size_t{1} << 20)) std::vector<uint8_t>().swap(out_);
    if (closing_) {
      // Everything is out: half-close so the peer reads our last message and then EOF, and
      // discard unread input so close() does not turn into a reset that could drop that message.
      if (tls_) tls_->shutdown();
      ::shutdown(fd_.get(), SHUT_WR);
      uint8_t scratch[4096];
      for (int i = 0; i < 16 && ::recv(fd_.get(), scratch, sizeof scratch, MSG_DONTWAIT) > 0; ++i) {
      }
      close(closing_reason_);
      return false;
    }
  } else if (out_head_ > (size_t{256} << 10) && out_head_ > out_.size() / 2) {
    out_.erase(out_.begin(), out_.begin() + static_cast<ptrdiff_t>(out_head_));
    out_head_ = 0;
  }
  return true;
}

void Connection::update_interest() {
  if (!is_open()) return;
  const uint32_t want =
      (closing_ ? 0u : uint32_t{EPOLLIN}) | (pending_output() || tls_wants_write_ ? EPOLLOUT : 0u);
  if (want == interest_) return;
  if (Status s = loop_.modify(fd_.get(), want); !s) {
    close(s.error());
    return;
  }
  interest_ = want;
}

void Connection::on_events(uint32_t events) {
  auto self = shared_from_this();
  if (!failed_.empty()) {
    close(failed_);
    return;
  }
  if ((events & EPOLLOUT) && tls_wants_write_ && pending_output() == 0) {
    tls_wants_write_ = false;
    if (tls_->handshake() == TlsStream::kWantWrite) tls_wants_write_ = true;
    update_interest();
  }
  if ((events & EPOLLOUT) && pending_output() > 0) {
    if (!flush()) return;
    update_interest();
    if (pending_output() == 0 && cb_.on_drained) cb_.on_drained(*this);
    if (!is_open()) return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !closing_) {
    on_readable();  // a read reports the error or EOF with a useful reason
  } else if (events & (EPOLLHUP | EPOLLERR)) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    close(err ? errno_reason("socket error", err) : std::string("peer closed the connection"));
  }
}

void Connection::on_readable() {
  // A bounded number of reads per event, so one busy peer cannot starve the others. TLS may still
  // hold decrypted bytes the socket no longer signals: then the loop calls back again.
  const int reads = tls_ ? limits_.tls_reads_per_event : limits_.reads_per_event;
  for (int i = 0; i < reads; ++i) {
    std::span<uint8_t> space = splitter_.prepare(limits_.read_chunk);
    std::string why;
    const long n = io_read(space, why);
    if (n == kIoEof) {
      close(splitter_.buffered() ? "peer closed the connection in the middle of a message"
                                 : "peer closed the connection");
      return;
    }
    if (n == kIoError) {
      close(why);
      return;
    }
    if (n == kIoAgain) {
      // A finished TLS handshake may have unblocked queued output.
      if (tls_ && (pending_output() > 0 || tls_wants_write_)) {
        if (pending_output() > 0 && !flush()) return;
        update_interest();
      }
      return;
    }
    splitter_.commit(static_cast<size_t>(n));
    while (is_open() && !closing_) {
      auto frame = splitter_.next();
      if (!frame) {
        close("protocol error: " + frame.error());
        return;
      }
      if (!*frame) break;
      Result<Message> message = decode_body(**frame);
      if (!message) {
        close("protocol error: " + message.error());
        return;
      }
      if (cb_.on_message) cb_.on_message(*this, *message);
    }
    if (!is_open() || closing_) return;
    if (!tls_ && static_cast<size_t>(n) < space.size()) return;  // socket drained
  }
  if (tls_) loop_.again(fd_.get());
}

std::optional<sockaddr_in> Connection::local_address() const {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (!fd_.valid() || ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      a.sin_family != AF_INET)
    return std::nullopt;
  return a;
}

}  // namespace shoal::control
