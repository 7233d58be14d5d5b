#include "daemon/recv_policy.h"

#include <fnmatch.h>

#include "common/event_log.h"  // session_hex
#include "common/printable.h"

namespace shoal::daemon {

Result<MapRule> parse_map_rule(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size())
    return make_error("bad --map '" + std::string(text) +
                      "': expected PATTERN=DEST, e.g. 'debian-*.img=/srv/images/' or "
                      "'node.img=/dev/vdb'");
  return MapRule{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

bool safe_object_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  for (unsigned char c : name) {
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::optional<std::string> destination_for(const std::vector<MapRule>& rules,
                                           const std::string& name) {
  for (const MapRule& r : rules) {
    if (fnmatch(r.pattern.c_str(), name.c_str(), 0) != 0) continue;
    if (!r.dest.empty() && r.dest.back() == '/') return r.dest + name;
    return r.dest;
  }
  return std::nullopt;
}

SessionTable::Decision SessionTable::consider(uint64_t session_id, const std::string& name) {
  auto it = sessions_.find(session_id);
  if (it != sessions_.end() && it->second.state != State::kBusy) return {};
  auto refuse = [&](std::string why) {
    sessions_[session_id] = Entry{State::kRefused, "", "", counter_++};
    prune();
    return Decision{Kind::kRefuse, "", std::move(why), true};
  };
  if (!safe_object_name(name))
    return refuse("object name '" + printable(name) + "' is not usable as a file name");
  auto dest = destination_for(rules_, name);
  if (!dest) return refuse("no --map rule matches object '" + name + "'");
  std::string busy;
  for (const auto& [id, e] : sessions_) {
    if (e.state == State::kRunning && e.dest == *dest)
      busy = "destination " + *dest + " is being written by session " + session_hex(id);
  }
  if (busy.empty() && running_ >= max_sessions_)
    busy = std::to_string(running_) + " session(s) running (--max-sessions " +
           std::to_string(max_sessions_) + ")";
  if (!busy.empty()) {
    const bool first = it == sessions_.end() || it->second.busy_reason != busy;
    if (it == sessions_.end()) {
      sessions_[session_id] = Entry{State::kBusy, *dest, busy, counter_++};
      prune();
    } else {
      it->second.busy_reason = busy;
    }
    return {Kind::kBusy, *dest, busy, first};
  }
  sessions_[session_id] = Entry{State::kRunning, *dest, "", counter_++};
  ++running_;
  prune();
  return {Kind::kStart, *dest, "", true};
}

void SessionTable::finished(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() || it->second.state != State::kRunning) return;
  it->second.state = State::kFinished;
  --running_;
}

void SessionTable::prune() {
  while (sessions_.size() > capacity_) {
    auto victim = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.state == State::kRunning) continue;
      if (victim == sessions_.end() || it->second.order < victim->second.order) victim = it;
    }
    if (victim == sessions_.end()) return;  // all running: nothing may be forgotten
    sessions_.erase(victim);
  }
}

}  // namespace shoal::daemon
