// Listener: the sender's listening TCP socket on an EventLoop.
//
// Accepts connections non-blocking with TCP_NODELAY and hands each to the owner with a
// ConnectionSlot. At most max_connections slots exist at a time; a connection beyond that gets a
// Reject ("sender is full ...") and is closed, so the receiver learns why. The owner keeps the
// slot for as long as it keeps the connection (typically beside it in its receiver table);
// destroying the slot frees the place.
//
// If accept() runs out of descriptors (EMFILE/ENFILE), the listener stops accepting until a slot
// is freed instead of spinning on a level-triggered event it cannot clear.
// Not thread-safe: use from the loop's thread. The loop must outlive the listener.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/fd.h"
#include "common/result.h"
#include "control/event_loop.h"

namespace shoal::control {

class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(ConnectionSlot&&) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
  ~ConnectionSlot() { release(); }
  void release();
  bool held() const { return static_cast<bool>(state_); }

 private:
  friend class Listener;
  struct State;
  explicit ConnectionSlot(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

class Listener {
 public:
  using AcceptFn = std::function<void(Fd fd, const sockaddr_in& peer, ConnectionSlot slot)>;

  // Binds (SO_REUSEADDR) and listens on `address` (port 0 = ephemeral, see port()).
  static Result<std::unique_ptr<Listener>> create(EventLoop& loop, const sockaddr_in& address,
                                                  size_t max_connections, AcceptFn on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const;  // the bound port (host order)
  const sockaddr_in& address() const { return address_; }
  size_t active() const;  // slots currently held
  uint64_t refused_full() const { return refused_full_; }

 private:
  Listener(EventLoop& loop, Fd fd, sockaddr_in address, std::shared_ptr<ConnectionSlot::State> s,
           AcceptFn on_accept);
  void on_readable();
  void refuse(Fd fd, const std::string& reason);

  EventLoop& loop_;
  Fd fd_;
  sockaddr_in address_;
  std::shared_ptr<ConnectionSlot::State> state_;
  AcceptFn on_accept_;
  uint64_t refused_full_ = 0;
};

}  // namespace shoal::control
