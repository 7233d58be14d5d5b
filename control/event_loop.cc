#include "control/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace shoal::control {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  Fd fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!fd) return make_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
  Fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return make_error(std::string("eventfd failed: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  if (::epoll_ctl(fd.get(), EPOLL_CTL_ADD, wake.get(), &ev) != 0) {
    return make_error(std::string("event loop: cannot watch its eventfd: ") + std::strerror(errno));
  }
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(fd), std::move(wake)));
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

void EventLoop::again(int fd) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return;
  for (uint64_t t : again_) {
    if (t == it->second) return;
  }
  if (again_.empty()) {
    const uint64_t one = 1;
    // Cannot fail short of the counter overflowing, and it is drained at every wake-up.
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
  }
  again_.push_back(it->second);
}

int EventLoop::run_again() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(wake_.get(), &count, sizeof count);
  std::vector<uint64_t> tokens;
  tokens.swap(again_);  // callbacks may ask again: that lands in the next poll
  int ran = 0;
  for (uint64_t t : tokens) {
    auto it = by_token_.find(t);
    if (it == by_token_.end()) continue;  // removed meanwhile
    std::shared_ptr<Entry> entry = it->second;
    entry->callback(EPOLLIN);
    ++ran;
  }
  return ran;
}

int EventLoop::poll_once(int timeout_ms) {
  const int n =
      ::epoll_wait(epoll_.get(), events_.data(), static_cast<int>(events_.size()), timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  int dispatched = 0;
  for (int i = 0; i < n; ++i) {
    if (events_[static_cast<size_t>(i)].data.u64 == kWakeToken) {
      dispatched += run_again();
      continue;
    }
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
