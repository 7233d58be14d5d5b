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

session::RelayOutcome relay_outcome(const session::SendResult& r) {
  session::RelayOutcome out;
  size_t failed = 0;
  for (const auto& d : r.receivers) {
    out.receivers.push_back({d.name, d.address, d.verified, d.reason});
    failed += !d.verified;
  }
  out.ok = r.outcome == session::SendOutcome::kAllVerified;
  switch (r.outcome) {
    case session::SendOutcome::kAllVerified:
      break;
    case session::SendOutcome::kSomeFailed:
      out.reason = std::to_string(failed) + " of " + std::to_string(r.receivers.size()) +
                   " receivers of its segment failed";
      break;
    case session::SendOutcome::kNobodyJoined:
      out.reason = "no receiver of its segment joined it";
      break;
    case session::SendOutcome::kAborted:
      out.reason = "the relay was stopped before its segment was done";
      break;
    case session::SendOutcome::kBadInput:
    case session::SendOutcome::kError:
      out.reason = "its session into its segment failed (the relay's log says why)";
      break;
  }
  if (!out.ok && failed > 0 && r.outcome != session::SendOutcome::kSomeFailed) {
    out.reason += "; " + std::to_string(failed) + " of its receivers failed";
  }
  return out;
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
  std::optional<session::RelayOutcome> outcome;  // the segment's, once its session ended

  session::RecvOptions up = options.upstream;
  up.out = "-";
  up.out_fd = write_end.get();
  // The downstream sees the object's end once it all went through the pipe, not when the
  // upstream session ends (that waits for the downstream's outcome: Relaying, then Done).
  auto close_write_end = [&] {
    std::lock_guard lock(mu);
    write_end.reset();
  };
  up.out_streamed = close_write_end;
  up.pipe_any_format = true;  // packed objects go downstream as they are
  up.on_session = [&](const control::Session& s) {
    std::lock_guard lock(mu);
    session = s;
    cv.notify_all();
  };
  // The upstream sender learns the segment's outcome: it counts the relay's receivers as its own.
  up.relay_outcome = [&]() -> std::optional<session::RelayOutcome> {
    std::lock_guard lock(mu);
    return outcome;
  };
  up.relay_segment = options.downstream.group + ":" + std::to_string(options.downstream.port) +
                     (options.downstream.iface.empty() ? "" : " via " + options.downstream.iface);
  std::thread upstream([&] {
    block_stop_signals();
    session::RecvResult r = session::run_receiver(up);
    close_write_end();  // if it failed before it streamed: the downstream sees that at once
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
    std::lock_guard lock(mu);
    outcome = relay_outcome(*result.downstream);
  }
  // Downstream is over: an upstream still writing sees the pipe close and stops.
  read_end.reset();
  upstream.join();
  return result;
}

}  // namespace shoal::relay
