#include "control/listener.h"

#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "control/endpoint.h"
#include "control/messages.h"

namespace shoal::control {

// Shared by the listener and its slots; either may go first.
struct ConnectionSlot::State {
  size_t active = 0;
  size_t max = 0;
  bool paused = false;               // accepting stopped after descriptor exhaustion
  std::function<void()> on_release;  // set while the listener lives
};

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
  }
  return *this;
}

void ConnectionSlot::release() {
  if (!state_) return;
  std::shared_ptr<State> s = std::move(state_);
  --s->active;
  if (s->paused && s->on_release) s->on_release();
}

Result<std::unique_ptr<Listener>> Listener::create(EventLoop& loop, const sockaddr_in& address,
                                                   size_t max_connections, AcceptFn on_accept) {
  const std::string where = format_endpoint(address);
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(std::string("cannot create a TCP socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int err = errno;
    std::string msg = "cannot listen on " + where + ": " + std::strerror(err);
    if (err == EADDRINUSE) {
      msg +=
          " (another program, perhaps another shoal sender, uses this port; pick another with "
          "--listen ADDRESS:PORT)";
    } else if (err == EADDRNOTAVAIL) {
      msg +=
          " (that address is not configured on this machine; use one of its addresses or "
          "0.0.0.0)";
    } else if (err == EACCES) {
      msg += " (ports below 1024 need privileges; pick another with --listen ADDRESS:PORT)";
    }
    return make_error(msg);
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    return make_error("cannot listen on " + where + ": " + std::strerror(errno));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) bound = address;

  auto state = std::make_shared<ConnectionSlot::State>();
  state->max = max_connections;
  std::unique_ptr<Listener> l(
      new Listener(loop, std::move(fd), bound, std::move(state), std::move(on_accept)));
  Listener* self = l.get();
  if (Status s = loop.add(l->fd_.get(), EPOLLIN, [self](uint32_t) { self->on_readable(); }); !s) {
    l->fd_.reset();
    return make_error(s.error());
  }
  // Resume accepting when a slot frees after descriptor exhaustion paused us.
  l->state_->on_release = [self] {
    self->state_->paused = false;
    (void)self->loop_.modify(self->fd_.get(), EPOLLIN);
  };
  return l;
}

Listener::Listener(EventLoop& loop, Fd fd, sockaddr_in address,
                   std::shared_ptr<ConnectionSlot::State> s, AcceptFn on_accept)
    : loop_(loop),
      fd_(std::move(fd)),
      address_(address),
      state_(std::move(s)),
      on_accept_(std::move(on_accept)) {}

Listener::~Listener() {
  state_->on_release = nullptr;
  if (fd_) loop_.remove(fd_.get());
}

uint16_t Listener::port() const {
  return ntohs(address_.sin_port);
}
size_t Listener::active() const {
  return state_->active;
}

void Listener::refuse(Fd fd, const std::string& reason) {
  // Best effort: a fresh socket's send buffer always has room for one small message.
  std::vector<uint8_t> bytes;
  encode(Reject{reason}, bytes);
  (void)::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd.get(), SHUT_WR);
  // Discard a Hello that already arrived, so the close is a FIN, not a reset racing the Reject.
  uint8_t scratch[1024];
  for (int i = 0; i < 16 && ::recv(fd.get(), scratch, sizeof scratch, MSG_DONTWAIT) > 0; ++i) {
  }
}

void Listener::on_readable() {
  // Bounded so a connection storm cannot hold the loop (level-triggered: we come back).
  for (int i = 0; i < 64; ++i) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    Fd fd(::accept4(fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len,
                    SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        spdlog::warn(
            "control: cannot accept on {}: {}; pausing until a receiver leaves "
            "(raise the descriptor limit with ulimit -n)",
            format_endpoint(address_), std::strerror(errno));
        state_->paused = true;
        (void)loop_.modify(fd_.get(), 0);
        return;
      }
      spdlog::warn("control: accept on {} failed: {}", format_endpoint(address_),
                   std::strerror(errno));
      return;
    }
    if (state_->active >= state_->max) {
      ++refused_full_;
      refuse(std::move(fd), "sender is full (" + std::to_string(state_->max) +
                                " receivers connected); try again later or raise its limit");
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++state_->active;
    on_accept_(std::move(fd), peer, ConnectionSlot(state_));
  }
}

}  // namespace shoal::control
