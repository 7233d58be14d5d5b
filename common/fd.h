// Fd: owns one POSIX file descriptor and closes it exactly once (RAII over open/socket/eventfd...).
// Move-only. Not thread-safe (like the descriptor itself, share it by reference, not by copy).
#pragma once

#include <unistd.h>

#include <utility>

namespace shoal {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }

  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing; the caller closes the returned descriptor.
  int release() { return std::exchange(fd_, -1); }

  // Closes the current descriptor (if any) and takes ownership of `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0)
      ::close(fd_);  // close() errors are not actionable here; the fd is gone either way
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace shoal
