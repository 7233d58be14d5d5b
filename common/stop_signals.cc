#include "common/stop_signals.h"

#include <pthread.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace shoal {

Result<StopSignals> StopSignals::create() {
  StopSignals s;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (int e = pthread_sigmask(SIG_BLOCK, &set, &s.old_); e != 0) {
    return make_error(std::string("cannot block SIGINT/SIGTERM: ") + std::strerror(e));
  }
  s.blocked_ = true;
  s.fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!s.fd_) return make_error(std::string("signalfd: ") + std::strerror(errno));
  return s;
}

StopSignals::StopSignals(StopSignals&& o) noexcept
    : fd_(std::move(o.fd_)), old_(o.old_), blocked_(std::exchange(o.blocked_, false)) {}

int StopSignals::take() {
  signalfd_siginfo si{};
  if (!fd_ || ::read(fd_.get(), &si, sizeof si) != static_cast<ssize_t>(sizeof si)) return 0;
  return static_cast<int>(si.ssi_signo);
}

void StopSignals::restore() {
  if (!blocked_) return;
  blocked_ = false;
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

const char* stop_signal_name(int signo) {
  switch (signo) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

}  // namespace shoal
