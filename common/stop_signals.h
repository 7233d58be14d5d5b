// StopSignals: SIGINT and SIGTERM as events of an event loop instead of sudden death, so a program
// can end cleanly (tell its peers, write its report). Blocks both signals in the calling thread
// and in every thread it starts afterwards (create it before any thread), and offers them on a
// signalfd. restore() (or the destructor) puts the old mask back: a second Ctrl-C then ends the
// program at once, as the user expects of a program that is already stopping.
// Not thread-safe; one per program, in its main thread.
#pragma once

#include <signal.h>

#include "common/fd.h"
#include "common/result.h"

namespace shoal {

class StopSignals {
 public:
  static Result<StopSignals> create();
  StopSignals(StopSignals&& o) noexcept;
  StopSignals& operator=(StopSignals&&) = delete;
  StopSignals(const StopSignals&) = delete;
  ~StopSignals() { restore(); }

  // Readable when a signal is pending.
  int fd() const { return fd_.get(); }
  // The pending signal's number, or 0 when none.
  int take();
  void restore();

 private:
  StopSignals() = default;
  Fd fd_;
  sigset_t old_{};
  bool blocked_ = false;
};

// "SIGINT", "SIGTERM", or "signal N".
const char* stop_signal_name(int signo);

}  // namespace shoal
