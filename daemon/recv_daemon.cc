#include "daemon/recv_daemon.h"

#include "control/event_loop.h"
#include "control/metrics_server.h"
#include "control/tls.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "announce/announce.h"
#include "announce/announce_listener.h"
#include "common/clock.h"
#include "common/event_log.h"  // session_hex
#include "common/fd.h"
#include "common/printable.h"
#include "common/units.h"
#include "daemon/recvd_status.h"

extern char** environ;

namespace shoal::daemon {

session::RecvOptions session_receive_options(const DaemonOptions& d,
                                             const session::AnnouncedSession& announced,
                                             int key_index, const std::string& sender,
                                             const std::string& dest) {
  session::RecvOptions o = d.receiver;
  o.sender = sender;
  o.out = dest;
  o.key = std::nullopt;
  if (key_index >= 0) o.key = d.keys.at(size_t(key_index));
  // Unsigned: TLS alone when the daemon has certificates (o.tls, from the template). Without
  // authentication only when the daemon was told --insecure.
  o.insecure = !o.key && d.insecure;
  o.announced = announced;  // the destination was chosen by its name: only that object goes there
  return o;
}

// ---- the daemon ----

namespace {

constexpr uint64_t kStopGraceNs = 10'000'000'000;  // sessions get this long to die after SIGTERM
constexpr uint64_t kKillGraceNs = 5'000'000'000;   // after SIGTERM to a late hook, then SIGKILL

struct Child {
  bool hook = false;
  uint64_t session_id = 0;
  std::string name, dest, sender;
  uint64_t size = 0;
  Fd out;                    // sessions: read end of the child's stdout, where its JSON result goes
  std::string json;          // what was read from it
  uint64_t deadline_ns = 0;  // when it gets SIGTERM (hooks: --hook-timeout; sessions: on stop)
  bool termed = false;
};

class Daemon {
 public:
  explicit Daemon(const DaemonOptions& o)
      : opt_(o), table_(o.rules, o.max_sessions), status_(getpid(), o.announce, unix_now_ns()) {}
  int run();

 private:
  void on_heard(const announce::HeardAnnouncement& h);
  void start_session(const announce::Announcement& a, int key_index, const std::string& dest,
                     const std::string& sender);
  void start_hook(const Child& session, const std::string& sha256);
  void reap();
  void on_exit(pid_t pid, Child& c, int status);
  void drain(Child& c);
  void begin_stop();
  void enforce_deadlines();
  void warn_once(const std::string& what);
  [[noreturn]] void child_setup_failed(const char* what);
  void reset_child_signals();
  // After every change: the --events record (if any) and the --status file.
  void publish(const char* event = nullptr, nlohmann::json fields = {});
  Status write_status(const std::string& path) const;

  DaemonOptions opt_;
  SessionTable table_;
  std::unique_ptr<announce::AnnounceListener> listener_;  // reset on stop
  Fd sigfd_;
  sigset_t old_mask_{};
  std::map<pid_t, Child> children_;
  std::set<std::string> warned_;
  bool stopping_ = false;
  // --metrics: a loop of its own for the scrape endpoint, nested in run()'s poll.
  std::unique_ptr<control::EventLoop> metrics_loop_;
  std::unique_ptr<control::MetricsServer> metrics_;
  RecvdStatus status_;
  EventLog events_;
};

// Written to a temporary file beside it and renamed: a reader never sees half a document.
Status Daemon::write_status(const std::string& path) const {
  if (path == "-") {
    std::cout << status_.status(unix_now_ns()).dump() << std::endl;
    return {};
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << status_.status(unix_now_ns()).dump(2) << "\n";
    if (!out.flush()) return make_error("cannot write '" + tmp + "': " + strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = strerror(errno);
    ::unlink(tmp.c_str());
    return make_error("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
  return {};
}

void Daemon::publish(const char* event, nlohmann::json fields) {
  if (event) events_.emit(event, std::move(fields));
  if (opt_.status.empty()) return;
  if (Status s = write_status(opt_.status); !s) warn_once("--status: " + s.error());
}

void Daemon::warn_once(const std::string& what) {
  if (warned_.size() > 1024) warned_.clear();  // bounded; a repeat after that is logged again
  if (warned_.insert(what).second) spdlog::warn("{}", what);
}

void Daemon::on_heard(const announce::HeardAnnouncement& h) {
  switch (h.kind) {
    case announce::HeardAnnouncement::Kind::kRejected:
      status_.on_announcement("rejected");
      warn_once(h.problem);
      publish();
      return;
    case announce::HeardAnnouncement::Kind::kDuplicate:
      return;
    case announce::HeardAnnouncement::Kind::kStale:
      status_.on_announcement("stale");
      warn_once(h.problem);
      publish();
      return;
    case announce::HeardAnnouncement::Kind::kFresh:
      break;
  }
  const announce::Announcement& a = h.announcement;
  SessionTable::Decision dec = table_.consider(a.session_id, a.object_name);
  const std::string what = "session " + session_hex(a.session_id) + " '" +
                           printable(a.object_name) + "' (" + format_bytes(double(a.object_size)) +
                           ") from " + h.sender;
  switch (dec.kind) {
    case SessionTable::Kind::kIgnore:
      return;
    case SessionTable::Kind::kRefuse:
      status_.on_refused();
      spdlog::info("{}: not accepted: {}", what, dec.reason);
      publish("session_refused", {{"session_id", session_hex(a.session_id)},
                                  {"object", a.object_name},
                                  {"sender", h.sender},
                                  {"reason", dec.reason}});
      return;
    case SessionTable::Kind::kBusy:
      if (dec.first) spdlog::info("{}: waiting: {}", what, dec.reason);
      return;
    case SessionTable::Kind::kStart:
      spdlog::info("{}: accepted, receiving into {}", what, dec.dest);
      start_session(a, h.key_index, dec.dest, h.sender);
      return;
  }
}

void Daemon::reset_child_signals() {
  for (int s : {SIGTERM, SIGINT, SIGCHLD, SIGHUP}) std::signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
}

void Daemon::child_setup_failed(const char* what) {
  std::fprintf(stderr, "shoal recvd: child setup failed: %s: %s\n", what, strerror(errno));
  _exit(1);
}

void Daemon::start_session(const announce::Announcement& a, int key_index, const std::string& dest,
                           const std::string& sender) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    spdlog::error("cannot start session {}: pipe: {}", session_hex(a.session_id), strerror(errno));
    table_.finished(a.session_id);
    return;
  }
  Fd rd(p[0]), wr(p[1]);
  session::RecvOptions o = session_receive_options(
      opt_, {a.session_id, a.object_name, a.object_size}, key_index, sender, dest);
  o.json_path = "-";
  o.progress = false;
  std::fflush(nullptr);
  std::cout.flush();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    spdlog::error("cannot start session {}: fork: {}", session_hex(a.session_id), strerror(errno));
    table_.finished(a.session_id);
    return;
  }
  if (pid == 0) {
    reset_child_signals();
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(1);
    if (::dup2(wr.get(), STDOUT_FILENO) < 0) child_setup_failed("dup2");
    listener_.reset();
    sigfd_.reset();
    // Log lines of this session carry its object name (escaped for spdlog's pattern syntax).
    std::string tag;
    for (char c : printable(a.object_name))
      tag += (c == '%') ? std::string("%%") : std::string(1, c);
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [" + tag + "] %v");
    const int rc = exit_status(run_receiver(o));
    std::cout.flush();
    std::fflush(nullptr);
    _exit(rc);
  }
  Child c;
  c.session_id = a.session_id;
  c.name = a.object_name;
  c.dest = dest;
  c.sender = sender;
  c.size = a.object_size;
  c.out = std::move(rd);
  ::fcntl(c.out.get(), F_SETFL, O_NONBLOCK);
  children_.emplace(pid, std::move(c));
  publish("session_start",
          status_.on_session_started(
              pid, {a.session_id, a.object_name, dest, sender, a.object_size}, unix_now_ns()));
}

void Daemon::start_hook(const Child& s, const std::string& sha256) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    spdlog::error("cannot run the hook for {}: fork: {}", s.dest, strerror(errno));
    return;
  }
  if (pid == 0) {
    reset_child_signals();
    listener_.reset();
    sigfd_.reset();
    setenv("SHOAL_PATH", s.dest.c_str(), 1);
    setenv("SHOAL_SHA256", sha256.c_str(), 1);
    setenv("SHOAL_OBJECT", s.name.c_str(), 1);
    setenv("SHOAL_SIZE", std::to_string(s.size).c_str(), 1);
    setenv("SHOAL_SESSION", session_hex(s.session_id).c_str(), 1);
    setenv("SHOAL_SENDER", s.sender.c_str(), 1);
    const char* argv[] = {opt_.hook.c_str(), s.dest.c_str(), sha256.c_str(), nullptr};
    execv(opt_.hook.c_str(), const_cast<char* const*>(argv));
    std::fprintf(stderr, "shoal recvd: cannot run hook %s: %s\n", opt_.hook.c_str(),
                 strerror(errno));
    _exit(127);
  }
  Child h;
  h.hook = true;
  h.session_id = s.session_id;
  h.name = s.name;
  h.dest = s.dest;
  h.deadline_ns = monotonic_ns() + opt_.hook_timeout_ns;
  children_.emplace(pid, std::move(h));
  spdlog::info("hook started for {} (pid {})", s.dest, pid);
}

void Daemon::drain(Child& c) {
  if (!c.out) return;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(c.out.get(), buf, sizeof buf);
    if (n > 0) {
      if (c.json.size() < (1u << 20)) c.json.append(buf, size_t(n));
      continue;
    }
    if (n == 0) c.out.reset();  // the child closed it: it exited
    return;
  }
}

void Daemon::on_exit(pid_t pid, Child& c, int status) {
  const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                            : "signal " + std::to_string(WTERMSIG(status));
  if (c.hook) {
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok)
      spdlog::info("hook for {} done", c.dest);
    else
      spdlog::warn("hook for {} failed ({})", c.dest, how);
    publish("hook", status_.on_hook_ended(c.dest, ok));
    return;
  }
  drain(c);
  table_.finished(c.session_id);
  std::string outcome;
  RecvdSessionEnd end;
  std::istringstream lines(c.json);
  for (std::string line; std::getline(lines, line);) {  // the result is the last JSON line
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    outcome = j.value("outcome", "");
    end.reason = j.value("reason", "");
    end.sha256 = j.value("sha256", "");
    end.bytes_written = j.value("bytes_written", uint64_t{0});
  }
  const std::string& sha256 = end.sha256;
  const std::string& reason = end.reason;
  const std::string what = "session " + session_hex(c.session_id) + " '" + printable(c.name) + "'";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && outcome == "done" && sha256.size() == 64) {
    end.outcome = RecvdSessionEnd::Outcome::kVerified;
    spdlog::info("{}: verified and written to {} (sha256 {})", what, c.dest, sha256);
    publish("session_end", status_.on_session_ended(pid, end, unix_now_ns()));
    if (!opt_.hook.empty()) start_hook(c, sha256);
    return;
  }
  end.outcome = c.termed ? RecvdSessionEnd::Outcome::kAbandoned : RecvdSessionEnd::Outcome::kFailed;
  if (end.reason.empty()) end.reason = how;
  publish("session_end", status_.on_session_ended(pid, end, unix_now_ns()));
  if (c.termed) {
    spdlog::info("{}: abandoned on stop ({}); partial data, if any, is kept beside {} for a resume",
                 what, how, c.dest);
  } else {
    spdlog::warn("{}: failed ({}){}", what, how, reason.empty() ? "" : ": " + reason);
  }
}

void Daemon::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = children_.find(pid);
    if (it == children_.end()) continue;
    on_exit(pid, it->second, status);
    children_.erase(it);
  }
}

void Daemon::begin_stop() {
  if (stopping_) {  // a second request: no more waiting
    spdlog::warn("stopping now: killing {} child process(es)", children_.size());
    for (auto& [pid, c] : children_) ::kill(pid, SIGKILL);
    return;
  }
  stopping_ = true;
  listener_.reset();
  status_.on_stopping();
  publish();
  size_t sessions = 0;
  for (auto& [pid, c] : children_) {
    if (c.hook) continue;
    ++sessions;
    c.termed = true;
    c.deadline_ns = monotonic_ns() + kStopGraceNs;
    ::kill(pid, SIGTERM);
  }
  spdlog::info("stopping: {} session(s) abandoned, {} hook(s) allowed to finish", sessions,
               children_.size() - sessions);
}

void Daemon::enforce_deadlines() {
  const uint64_t now = monotonic_ns();
  for (auto& [pid, c] : children_) {
    if (c.deadline_ns == 0 || now < c.deadline_ns) continue;
    if (c.hook && !c.termed) {
      spdlog::warn("hook for {} still running after --hook-timeout: stopping it", c.dest);
      ::kill(pid, SIGTERM);
      c.termed = true;
      c.deadline_ns = now + kKillGraceNs;
    } else {
      ::kill(pid, SIGKILL);
      c.deadline_ns = 0;
    }
  }
}

int Daemon::run() {
  if (opt_.rules.empty()) {
    spdlog::error("no --map rule: nothing would be accepted (e.g. --map '*.img=/srv/images/')");
    return 2;
  }
  const bool tls = opt_.receiver.tls.enabled();
  auto unsigned_ok = announce::accept_unsigned_announcements(opt_.keys.size(), opt_.insecure, tls);
  if (!unsigned_ok) {
    spdlog::error("{}", unsigned_ok.error());
    return 2;
  }
  // Each session loads the certificates again (in its child); this finds a bad file at start.
  if (auto ctx = control::tls_context_for(control::TlsContext::Role::kClient, opt_.receiver.tls);
      !ctx) {
    spdlog::error("{}", ctx.error());
    return 2;
  }
  if (!opt_.hook.empty() && ::access(opt_.hook.c_str(), X_OK) != 0) {
    spdlog::error("--hook {}: not an executable file ({})", opt_.hook, strerror(errno));
    return 2;
  }
  auto events = EventLog::open(opt_.events);
  if (!events) {
    spdlog::error("{}", events.error());
    return 2;
  }
  events_ = std::move(*events);
  for (const auto& [flag, path] : {std::pair{"--status", &opt_.status}, {"--json", &opt_.json}}) {
    if (path->empty() || *path == "-") continue;
    if (Status s = write_status(*path); !s) {  // a path that cannot be written fails at start
      spdlog::error("{}: {} (give a writable file)", flag, s.error());
      return 2;
    }
  }
  if (opt_.insecure)
    spdlog::warn("--insecure: unsigned announcements are accepted and joined without a key");
  else if (tls && opt_.keys.empty())
    spdlog::info(
        "TLS without a key: unsigned announcements are accepted; each session's sender must pass "
        "the TLS handshake with a certificate from --tls-ca");
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGTERM, SIGINT, SIGCHLD, SIGHUP}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, &old_mask_);
  sigfd_.reset(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!sigfd_) {
    spdlog::error("signalfd: {}", strerror(errno));
    return 1;
  }
  auto listener = announce::AnnounceListener::open(
      opt_.announce, opt_.receiver.iface,
      announce::AnnounceChecks{opt_.keys, *unsigned_ok, opt_.max_skew_ms});
  if (!listener) {
    spdlog::error("{}", listener.error());
    return 2;
  }
  listener_ = std::move(*listener);
  if (!opt_.metrics.empty()) {
    auto loop = control::EventLoop::create();
    if (!loop) {
      spdlog::error("{}", loop.error());
      return 1;
    }
    metrics_loop_ = std::move(*loop);
    auto m = control::MetricsServer::create(*metrics_loop_, opt_.metrics,
                                            [this] { return status_.metrics(); });
    if (!m) {
      spdlog::error("{}", m.error());
      return 2;
    }
    metrics_ = std::move(*m);
    spdlog::info("metrics for Prometheus on http://{}/metrics", opt_.metrics);
  }
  spdlog::info("waiting for session announcements on {}{}; up to {} session(s) at once",
               opt_.announce, opt_.receiver.iface.empty() ? "" : " via " + opt_.receiver.iface,
               opt_.max_sessions);
  while (!stopping_ || !children_.empty()) {
    std::vector<pollfd> fds;
    fds.push_back({sigfd_.get(), POLLIN, 0});
    if (listener_) fds.push_back({listener_->fd(), POLLIN, 0});
    if (metrics_loop_) fds.push_back({metrics_loop_->fd(), POLLIN, 0});
    for (auto& [pid, c] : children_) {
      if (c.out) fds.push_back({c.out.get(), POLLIN, 0});
    }
    bool deadlines = false;
    for (auto& [pid, c] : children_) deadlines |= c.deadline_ns != 0;
    if (::poll(fds.data(), fds.size(), deadlines || metrics_ ? 200 : -1) < 0 && errno != EINTR) {
      spdlog::error("poll: {}", strerror(errno));
      return 1;
    }
    signalfd_siginfo si{};
    while (::read(sigfd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) begin_stop();
      if (si.ssi_signo == SIGHUP) spdlog::info("SIGHUP ignored (restart to reload the options)");
    }
    reap();  // also when the SIGCHLD merged with another signal
    if (listener_) listener_->drain([this](const announce::HeardAnnouncement& h) { on_heard(h); });
    for (auto& [pid, c] : children_) drain(c);
    enforce_deadlines();
    if (metrics_loop_) {
      metrics_loop_->poll_once(0);
      metrics_->expire(monotonic_ns());
    }
  }
  spdlog::info("stopped");
  if (!opt_.json.empty()) {
    if (Status s = write_status(opt_.json); !s) {
      spdlog::error("--json: {}", s.error());
      return 1;
    }
  }
  return 0;
}

}  // namespace

int run_recv_daemon(const DaemonOptions& options) {
  Daemon d(options);
  return d.run();
}

}  // namespace shoal::daemon
