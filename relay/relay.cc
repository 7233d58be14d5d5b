#include "relay/relay.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "common/fd.h"
#include "common/units.h"

namespace shoal::relay {

namespace {

// Big enough that the upstream's writer and the downstream's reader rarely wait on each other.
constexpr int kPipeBytes = 1 << 20;

// The upstream side runs on its own thread. SIGINT/SIGTERM stay blocked there, so they reach the
// downstream sender's signalfd and the relay stops in order (common/stop_signals.h).
void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

int exit_status(const RelayResult& r) {
  if (r.upstream.bad_input) return 2;
  if (!r.downstream) return 1;
  switch (r.downstream->outcome) {
    case session::SendOutcome::kAllVerified:
      return r.upstream.ok ? 0 : 1;
    case session::SendOutcome::kBadInput:
      return 2;
    case session::SendOutcome::kAborted:
      return 128 + r.downstream->stop_signal;
    case session::SendOutcome::kSomeFailed:
    case session::SendOutcome::kNobodyJoined:
    case session::SendOutcome::kError:
      return 1;
  }
  return 1;
}

session::SendOptions downstream_options(const RelayOptions& o, const control::Session& up,
                                        int pipe_fd) {
  session::SendOptions d = o.downstream;
  d.path = "-";
  d.pipe_fd = pipe_fd;
  d.pipe_size = up.object_size;
  d.pipe_format = up.object_format;
  d.pipe_naming = {"relay: the upstream session", "its session header",
                   "the upstream failed; the relay's log says why"};
  if (d.object_name.empty()) d.object_name = up.object_name;
  // The upstream's layout gives the same blocks, hashes and resume state downstream: a receiver
  // whose relay fails resumes from the sender (or another relay) with what it has.
  if (!o.fec_given) d.k = up.k;
  if (!d.symbol_size_given) {
    d.symbol_size = up.symbol_size;
    d.symbol_size_given = true;
  }
  return d;
}

RelayResult run_relay(RelayOptions options) {
  RelayResult result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    result.upstream = {false, false, std::string("relay: pipe: ") + std::strerror(errno)};
    spdlog::error("{}", result.upstream.reason);
    return result;
  }
  Fd read_end(fds[0]), write_end(fds[1]);
  (void)::fcntl(write_end.get(), F_SETPIPE_SZ, kPipeBytes);  // a smaller pipe only costs wake-ups

  std::mutex mu;
  std::condition_variable cv;
  std::optional<control::Session> session;
  bool upstream_ended = false;

  session::RecvOptions up = options.upstream;
  up.out = "-";
  up.out_fd = write_end.get();
  up.pipe_any_format = true;  // packed objects go downstream as they are
  up.on_session = [&](const control::Session& s) {
    std::lock_guard lock(mu);
    session = s;
    cv.notify_all();
  };
  std::thread upstream([&] {
    block_stop_signals();
    session::RecvResult r = session::run_receiver(up);
    write_end.reset();  // the downstream reader sees the end of the object (or that it failed)
    std::lock_guard lock(mu);
    result.upstream = std::move(r);
    upstream_ended = true;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return session.has_value() || upstream_ended; });
  }
  if (session) {
    spdlog::info("relay: '{}' ({}) from {}: sending it on as it arrives", session->object_name,
                 format_bytes(double(session->object_size)), options.upstream.sender);
    result.downstream = session::run_sender(downstream_options(options, *session, read_end.get()));
  }
  // Downstream is over: an upstream still writing sees the pipe close and stops.
  read_end.reset();
  upstream.join();
  return result;
}

}  // namespace shoal::relay
