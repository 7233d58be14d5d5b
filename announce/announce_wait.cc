#include "announce/announce_wait.h"

#include <fnmatch.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/clock.h"
#include "common/event_log.h"  // session_hex
#include "common/printable.h"

namespace shoal::announce {

namespace {
constexpr size_t kNamesListed = 8;  // object names quoted in the timeout message, at most
constexpr size_t kProblemsKept = 64;
}  // namespace

AnnouncementChoice::Decision AnnouncementChoice::consider(const HeardAnnouncement& h) {
  Decision d;
  switch (h.kind) {
    case HeardAnnouncement::Kind::kDuplicate:
      return d;
    case HeardAnnouncement::Kind::kRejected:
    case HeardAnnouncement::Kind::kStale:
      ++(h.kind == HeardAnnouncement::Kind::kStale ? stale_ : rejected_);
      if (problems_.size() < kProblemsKept && problems_.insert(h.problem).second) {
        d.note = h.problem;
        d.warning = true;
      }
      return d;
    case HeardAnnouncement::Kind::kFresh:
      break;
  }
  const Announcement& a = h.announcement;
  const std::string name = printable(a.object_name);
  if (!glob_.empty() && fnmatch(glob_.c_str(), a.object_name.c_str(), 0) != 0) {
    if (other_sessions_.insert(a.session_id).second) {
      other_names_.insert(name);
      d.note = "session " + session_hex(a.session_id) + " '" + name + "' from " + h.sender +
               ": not joined: its object name does not match --object '" + glob_ + "'";
    }
    return d;
  }
  d.join = AnnouncedSession{a.session_id,  h.sender,    a.object_name,
                            a.object_size, h.key_index, a.target_policy};
  return d;
}

std::string AnnouncementChoice::nothing_taken() const {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : "; ") + part; };
  if (!other_sessions_.empty()) {
    std::string names;
    size_t n = 0;
    for (const std::string& name : other_names_) {
      if (n++ == kNamesListed) {
        names += ", ...";
        break;
      }
      names += (names.empty() ? "" : ", ") + name;
    }
    add("heard " + std::to_string(other_sessions_.size()) +
        " session(s) whose object name does not match --object '" + glob_ + "' (" + names + ")");
  }
  if (rejected_ > 0)
    add(std::to_string(rejected_) +
        " announcement(s) rejected (not signed with our key, or unsigned where that is not "
        "accepted; logged above)");
  if (stale_ > 0)
    add(std::to_string(stale_) +
        " stale announcement(s) (clocks apart by more than "
        "--max-clock-skew; logged above)");
  if (out.empty())
    out =
        "heard no announcement: check that the sender runs with --announce on this group and that "
        "multicast from it reaches this machine (--iface)";
  return out;
}

Result<AnnouncedSession> wait_for_announced_session(AnnounceListener& listener,
                                                    const std::string& group,
                                                    const std::string& object_glob,
                                                    uint64_t timeout_ns) {
  AnnouncementChoice choice(object_glob);
  const uint64_t deadline = monotonic_ns() + timeout_ns;
  std::optional<AnnouncedSession> taken;
  for (;;) {
    listener.drain([&](const HeardAnnouncement& h) {
      if (taken) return;
      AnnouncementChoice::Decision d = choice.consider(h);
      if (d.warning) {
        spdlog::warn("{}", d.note);
      } else if (!d.note.empty()) {
        spdlog::info("{}", d.note);
      }
      taken = std::move(d.join);
    });
    if (taken) return *taken;
    const uint64_t now = monotonic_ns();
    if (now >= deadline) break;
    pollfd p{listener.fd(), POLLIN, 0};
    const uint64_t left_ms = (deadline - now + 999'999) / 1'000'000;
    if (::poll(&p, 1, int(std::min<uint64_t>(left_ms, 1000))) < 0 && errno != EINTR)
      return make_error(std::string("poll: ") + strerror(errno));
  }
  char within[32];
  std::snprintf(within, sizeof within, timeout_ns < 10'000'000'000 ? "%.1f s" : "%.0f s",
                double(timeout_ns) / 1e9);
  return make_error("no session to join was announced on " + group + " within " + within +
                    " (--connect-timeout): " + choice.nothing_taken());
}

}  // namespace shoal::announce
