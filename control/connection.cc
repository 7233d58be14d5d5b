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
                                                       Limits limits) {
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
  std::weak_ptr<Connection> weak = c;
  Status added = loop.add(raw_fd, c->interest_, [weak](uint32_t events) {
    if (auto self = weak.lock()) self->on_events(events);
  });
  if (!added) {
    c->fd_.reset();  // never registered; the destructor must not touch the loop
    return make_error(added.error());
  }
  return c;
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
  while (pending_output() > 0) {
    const ssize_t n =
        ::send(fd_.get(), out_.data() + out_head_, pending_output(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_head_ += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      close(errno_reason("write error", n < 0 ? errno : EPIPE));
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
  const uint32_t want = (closing_ ? 0u : uint32_t{EPOLLIN}) | (pending_output() ? EPOLLOUT : 0u);
  if (want == interest_) return;
  if (Status s = loop_.modify(fd_.get(), want); !s) {
    close(s.error());
    return;
  }
  interest_ = want;
}

void Connection::on_events(uint32_t events) {
  auto self = shared_from_this();
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
  for (int i = 0; i < limits_.reads_per_event; ++i) {
    std::span<uint8_t> space = splitter_.prepare(limits_.read_chunk);
    const ssize_t n = ::recv(fd_.get(), space.data(), space.size(), MSG_DONTWAIT);
    if (n == 0) {
      close(splitter_.buffered() ? "peer closed the connection in the middle of a message"
                                 : "peer closed the connection");
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close(errno_reason("read error", errno));
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
    if (static_cast<size_t>(n) < space.size()) return;  // socket drained
  }
}

}  // namespace shoal::control
