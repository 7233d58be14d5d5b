#include "control/event_loop.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace shoal::control {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  Fd fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!fd) return make_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(fd)));
}

Status EventLoop::add(int fd, uint32_t events, Callback callback) {
  if (by_fd_.count(fd) != 0) {
    return make_error("event loop: fd " + std::to_string(fd) + " is already watched");
  }
  const uint64_t token = next_token_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return make_error("event loop: cannot watch fd " + std::to_string(fd) + ": " +
                      std::strerror(errno));
  }
  by_token_.emplace(token, std::make_shared<Entry>(Entry{fd, token, std::move(callback)}));
  by_fd_.emplace(fd, token);
  return Status::success();
}

Status EventLoop::modify(int fd, uint32_t events) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) {
    return make_error("event loop: fd " + std::to_string(fd) + " is not watched");
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->second;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    return make_error("event loop: cannot change interest of fd " + std::to_string(fd) + ": " +
                      std::strerror(errno));
  }
  return Status::success();
}

void EventLoop::remove(int fd) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return;
  // Fails only if fd was closed already, in which case the kernel dropped it from the set.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  by_token_.erase(it->second);
  by_fd_.erase(it);
}

int EventLoop::poll_once(int timeout_ms) {
  const int n =
      ::epoll_wait(epoll_.get(), events_.data(), static_cast<int>(events_.size()), timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  int dispatched = 0;
  for (int i = 0; i < n; ++i) {
    auto it = by_token_.find(events_[static_cast<size_t>(i)].data.u64);
    if (it == by_token_.end()) continue;  // removed by an earlier callback of this batch
    // Hold the entry so a callback that removes itself does not destroy the running function.
    std::shared_ptr<Entry> entry = it->second;
    entry->callback(events_[static_cast<size_t>(i)].events);
    ++dispatched;
  }
  return dispatched;
}

}  // namespace shoal::control
