#include "daemon/recvd_status.h"

#include "common/event_log.h"  // session_hex, utc_iso8601
#include "control/metrics_server.h"

namespace shoal::daemon {

namespace {

const char* name_of(RecvdSessionEnd::Outcome o) {
  switch (o) {
    case RecvdSessionEnd::Outcome::kVerified:
      return "verified";
    case RecvdSessionEnd::Outcome::kFailed:
      return "failed";
    case RecvdSessionEnd::Outcome::kAbandoned:
      return "abandoned";
  }
  return "failed";
}

nlohmann::json describe(const RecvdSession& s) {
  return {{"session_id", session_hex(s.session_id)},
          {"object", s.object},
          {"dest", s.dest},
          {"sender", s.sender},
          {"bytes", s.bytes}};
}

}  // namespace

RecvdStatus::RecvdStatus(int pid, std::string announce, uint64_t started_ns)
    : pid_(pid), announce_(std::move(announce)), started_ns_(started_ns) {
  // Every outcome is listed from the start, so a dashboard sees zeros rather than gaps.
  for (const char* k : {"session/started", "session/verified", "session/failed",
                        "session/abandoned", "session/refused", "hook/ok", "hook/failed",
                        "announcement/rejected", "announcement/stale"}) {
    counts_[k] = 0;
  }
}

void RecvdStatus::on_announcement(const char* outcome) {
  ++counts_[std::string("announcement/") + outcome];
}

void RecvdStatus::on_refused() {
  ++counts_["session/refused"];
}

nlohmann::json RecvdStatus::on_session_started(int child, const RecvdSession& s, uint64_t now_ns) {
  ++counts_["session/started"];
  running_[child] = {s, now_ns};
  return describe(s);
}

nlohmann::json RecvdStatus::on_session_ended(int child, const RecvdSessionEnd& end,
                                             uint64_t now_ns) {
  auto it = running_.find(child);
  if (it == running_.end()) return nlohmann::json::object();  // not a session of ours
  const Running r = it->second;
  running_.erase(it);
  ++counts_[std::string("session/") + name_of(end.outcome)];
  bytes_received_ += end.bytes_written;
  nlohmann::json fields = describe(r.session);
  fields["outcome"] = name_of(end.outcome);
  fields["seconds"] = double(now_ns - std::min(now_ns, r.started_ns)) / 1e9;
  fields["bytes_written"] = end.bytes_written;
  if (end.outcome == RecvdSessionEnd::Outcome::kVerified) {
    fields["sha256"] = end.sha256;
    last_success_ns_ = now_ns;
    last_success_ = fields;
    last_success_["time"] = utc_iso8601(now_ns);
  } else {
    fields["reason"] = end.reason;
    if (end.outcome == RecvdSessionEnd::Outcome::kFailed) {
      last_failure_ns_ = now_ns;
      last_failure_ = fields;
      last_failure_["time"] = utc_iso8601(now_ns);
    }
  }
  return fields;
}

nlohmann::json RecvdStatus::on_hook_ended(const std::string& dest, bool ok) {
  ++counts_[ok ? "hook/ok" : "hook/failed"];
  return {{"dest", dest}, {"outcome", ok ? "ok" : "failed"}};
}

std::string RecvdStatus::metrics() const {
  using control::metric_header, control::metric_line;
  std::string out = metric_header("shoal_recvd_events_total", "counter",
                                  "announcements, sessions and hooks by outcome");
  for (const auto& [key, n] : counts_) {
    const size_t slash = key.find('/');
    out += metric_line("shoal_recvd_events_total", double(n),
                       {{"event", key.substr(0, slash)}, {"outcome", key.substr(slash + 1)}});
  }
  // One gauge or counter per line: name, type, help, value.
  const struct {
    const char* name;
    const char* type;
    const char* help;
    double value;
  } gauges[] = {
      {"shoal_recvd_sessions_running", "gauge", "sessions being received now",
       double(running_.size())},
      {"shoal_recvd_received_bytes_total", "counter",
       "bytes written by sessions (resumed data not counted)", double(bytes_received_)},
      {"shoal_recvd_last_success_timestamp_seconds", "gauge",
       "when a session last verified its object (Unix time; 0 = never)",
       double(last_success_ns_ / 1'000'000'000)},
      {"shoal_recvd_last_failure_timestamp_seconds", "gauge",
       "when a session last failed (Unix time; 0 = never)",
       double(last_failure_ns_ / 1'000'000'000)},
  };
  for (const auto& g : gauges)
    out += metric_header(g.name, g.type, g.help) + metric_line(g.name, g.value);
  return out;
}

nlohmann::json RecvdStatus::status(uint64_t now_ns) const {
  nlohmann::json running = nlohmann::json::array();
  for (const auto& [child, r] : running_) {
    nlohmann::json s = describe(r.session);
    s["started"] = utc_iso8601(r.started_ns);
    running.push_back(std::move(s));
  }
  nlohmann::json totals = nlohmann::json::object();
  for (const auto& [key, n] : counts_) {
    const size_t slash = key.find('/');
    totals[key.substr(0, slash) + "s"][key.substr(slash + 1)] = n;
  }
  totals["bytes_received"] = bytes_received_;
  return {{"pid", pid_},
          {"started", utc_iso8601(started_ns_)},
          {"updated", utc_iso8601(now_ns)},
          {"announce", announce_},
          {"state", stopping_ ? "stopping" : "listening"},
          {"running", std::move(running)},
          {"totals", std::move(totals)},
          {"last_success", last_success_},
          {"last_failure", last_failure_}};
}

}  // namespace shoal::daemon
