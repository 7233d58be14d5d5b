// EventLoop: a thin epoll wrapper for one thread that serves many sockets.
//
// The sender runs a single loop for all receivers and also paces multicast data from the same
// thread, so the loop is driven by poll_once(timeout_ms) instead of running forever. Interest is
// level-triggered: a callback that leaves data unread is called again on the next poll, which
// keeps one busy peer from starving the others.
//
// Callbacks may add, modify or remove any fd (their own included) while being dispatched; an
// event already fetched for an fd that was removed meanwhile is dropped, even if the descriptor
// number was reused. Not thread-safe: use it from one thread only.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace shoal::control {

class EventLoop {
 public:
  // Called with the ready events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP bits).
  using Callback = std::function<void(uint32_t events)>;

  static Result<std::unique_ptr<EventLoop>> create();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches `fd` (not owned) for `events`. Errors if the fd is already watched or epoll refuses.
  Status add(int fd, uint32_t events, Callback callback);
  // Changes the interest set of a watched fd.
  Status modify(int fd, uint32_t events);
  // The epoll descriptor itself: readable when poll_once(0) has work (to nest in another poll).
  int fd() const { return epoll_.get(); }
  // Stops watching `fd`; no-op if it is not watched. Call before closing the fd.
  void remove(int fd);

  // Runs `fd`'s callback with EPOLLIN again on the next poll, whatever the socket says: for a
  // reader that stopped early to be fair to other fds while it still holds data the kernel does
  // not know about (decrypted TLS bytes). Through an eventfd, so fd() turns readable too.
  void again(int fd);

  // Waits up to timeout_ms (0 = do not block, -1 = forever) and dispatches ready events.
  // Returns the number of callbacks run, 0 on timeout or EINTR, or -errno if epoll_wait failed.
  int poll_once(int timeout_ms);

  size_t watched() const { return by_fd_.size(); }

 private:
  struct Entry {
    int fd;
    uint64_t token;
    Callback callback;
  };

  static constexpr uint64_t kWakeToken = 0;  // the eventfd behind again(); fds get tokens from 1

  EventLoop(Fd epoll_fd, Fd wake_fd) : epoll_(std::move(epoll_fd)), wake_(std::move(wake_fd)) {}
  int run_again();

  Fd epoll_;
  Fd wake_;                      // eventfd: readable while again_ holds tokens
  std::vector<uint64_t> again_;  // tokens to call back with EPOLLIN on the next poll
  // epoll carries a never-reused token rather than the fd, so stale events are recognisable.
  std::unordered_map<uint64_t, std::shared_ptr<Entry>> by_token_;
  std::unordered_map<int, uint64_t> by_fd_;
  uint64_t next_token_ = 1;
  std::vector<epoll_event> events_ = std::vector<epoll_event>(256);
};

}  // namespace shoal::control
