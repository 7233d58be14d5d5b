#include "session/sender_report.h"

#include "common/event_log.h"
#include "common/stop_signals.h"

#include <cstdarg>
#include <cstdio>

#include "common/event_log.h"
#include "common/units.h"
#include "control/metrics_server.h"

namespace shoal::session {

namespace {

std::string printf_string(const char* format, ...) __attribute__((format(printf, 1, 2)));

std::string printf_string(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string out(n > 0 ? size_t(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, format, again);
  va_end(again);
  return out;
}

constexpr const char* kNeverJoined = "expected (--hosts) but never joined";

bool reported(const ReceiverRecord& r) {
  return r.state != ReceiverState::kSuperseded;
}

struct Row {
  bool done;
  double seconds;
  double goodput;
  uint64_t lost;
};

Row row_of(const SendTotals& t, const ReceiverRecord& r) {
  Row row{};
  row.done = r.state == ReceiverState::kDone;
  row.seconds = row.done ? double(r.done_ns - t.data_start_ns) / 1e9 : 0;
  row.goodput = row.seconds > 0 ? double(t.object_bytes) * 8 / row.seconds : 0;
  row.lost =
      !r.unicast && r.frames_sent > r.frames_received ? r.frames_sent - r.frames_received : 0;
  return row;
}

// The table's last column: why a receiver failed or took its path, and the passes peers served.
std::string reason_column(const ReceiverRecord& r, bool done) {
  std::string text = done && !r.unicast && !r.slow ? "" : r.reason;
  if (r.peer_passes != 0) {
    text += (text.empty() ? "" : "; ") + std::to_string(r.peer_passes) + " pass(es) from peers";
  }
  return text;
}

}  // namespace

nlohmann::json summary_json(const SendTotals& t, const ReceiverRecords& receivers) {
  const double sym = double(t.symbol_size);
  nlohmann::json j;
  j["object"] = t.object_name;
  j["bytes"] = t.object_bytes;
  j["session_id"] = t.session_id;
  j["passes"] = t.passes;
  j["frames_sent"] = t.frames_sent;
  j["repair_bytes_multicast"] = uint64_t(double(t.repair_frames) * sym);
  j["repair_bytes_interleaved"] = uint64_t(double(t.interleaved_symbols) * sym);
  j["seconds"] = double(t.end_ns - t.data_start_ns) / 1e9;
  // Session start-up: from `shoal send` to the first data frame (the manifest no longer holds
  // it back), and the object's plain SHA-256 as the receivers' hooks see it.
  if (t.first_frame_ns) j["first_frame_s"] = double(t.first_frame_ns - t.start_ns) / 1e9;
  if (t.object_sha256) j["sha256"] = to_hex(*t.object_sha256);
  j["hash_seconds"] = t.hash_seconds;
  j["zero_blocks"] = t.zero_blocks;
  j["aborted"] = t.stop_signal != 0;
  if (t.stop_signal != 0) j["signal"] = stop_signal_name(t.stop_signal);
  if (t.rate_auto) j["rate_auto"] = *t.rate_auto;
  if (t.spool_peak_bytes) {
    j["spool_peak_bytes"] = *t.spool_peak_bytes;
    j["spool_max_bytes"] = *t.spool_max_bytes;
  }
  size_t ok = 0, failed = 0;
  for (const auto& [id, r] : receivers) {
    if (!reported(r)) continue;
    const Row row = row_of(t, r);
    (row.done ? ok : failed)++;
    nlohmann::json o;
    o["name"] = r.name;
    o["address"] = r.addr;
    o["outcome"] = row.done ? "done" : "failed";
    o["path"] = r.unicast ? "unicast" : "multicast";
    if (!r.identity.empty()) o["tls_identity"] = r.identity;
    if (!row.done) o["reason"] = r.reason;
    if (row.done && (r.unicast || r.slow)) o["hint"] = r.reason;  // why this path (or rate)
    if (r.slow) o["slow"] = true;
    o["bytes"] = row.done ? t.object_bytes : r.done.bytes_written;
    o["seconds"] = row.seconds;
    o["goodput_bps"] = row.goodput;
    o["symbols_lost"] = row.lost;
    o["repair_bytes_multicast"] = uint64_t(double(t.repair_frames) * sym);
    o["repair_bytes_unicast"] = uint64_t(double(r.unicast_symbols) * sym);
    o["blocks_fetched"] = r.blocks_fetched;
    if (r.peer_passes != 0) o["peer_passes"] = r.peer_passes;  // unicast passes a peer served
    if (!r.peer_addr.empty()) o["served_peers_at"] = r.peer_addr;
    if (!r.segment.empty() || !r.relayed.empty()) o["relays_into"] = r.segment;
    j["receivers"].push_back(o);
    for (const RelayedReceiver& d : r.relayed) {  // behind this relay: its session's outcome
      if (d.superseded) continue;
      (d.ok ? ok : failed)++;
      nlohmann::json rd = {{"name", d.name},
                           {"address", d.addr},
                           {"outcome", d.ok ? "done" : "failed"},
                           {"path", "relay"},
                           {"via", r.name}};
      if (!d.ok) rd["reason"] = d.reason;
      j["receivers"].push_back(rd);
    }
  }
  for (const std::string& h : t.hosts_missing) {
    ++failed;
    j["receivers"].push_back({{"name", h}, {"outcome", "failed"}, {"reason", kNeverJoined}});
  }
  j["hosts_missing"] = t.hosts_missing;
  j["ok"] = ok;
  j["failed"] = failed;
  return j;
}

std::string summary_table(const SendTotals& t, const ReceiverRecords& receivers) {
  const double sym = double(t.symbol_size);
  std::string out =
      printf_string("\n%-20s %-22s %-8s %-9s %10s %12s %10s %12s  %s\n", "receiver", "address",
                    "outcome", "path", "seconds", "goodput", "lost", "unicast", "reason");
  size_t ok = 0, failed = 0;
  for (const auto& [id, r] : receivers) {
    if (!reported(r)) continue;
    const Row row = row_of(t, r);
    (row.done ? ok : failed)++;
    out += printf_string(
        "%-20s %-22s %-8s %-9s %10.2f %12s %10llu %12s  %s\n", r.name.c_str(), r.addr.c_str(),
        row.done ? "done" : "FAILED", r.unicast ? "unicast" : "multicast", row.seconds,
        format_rate(row.goodput).c_str(), (unsigned long long)row.lost,
        format_bytes(double(r.unicast_symbols) * sym).c_str(), reason_column(r, row.done).c_str());
    for (const RelayedReceiver& d : r.relayed) {
      if (d.superseded) continue;
      (d.ok ? ok : failed)++;
      out += printf_string("%-20s %-22s %-8s %-9s %10s %12s %10s %12s  %s\n", d.name.c_str(),
                           d.addr.c_str(), d.ok ? "done" : "FAILED", "relay", "-", "-", "-", "-",
                           d.ok ? ("through " + r.name).c_str() : d.reason.c_str());
    }
  }
  for (const std::string& h : t.hosts_missing) {
    ++failed;
    out += printf_string("%-20s %-22s %-8s %-9s %10s %12s %10s %12s  %s\n", h.c_str(), "-",
                         "FAILED", "-", "-", "-", "-", "-", kNeverJoined);
  }
  out += printf_string(
      "%zu of %zu receivers verified the object; %u pass(es), %s multicast repair (%s during "
      "passes)\n",
      ok, ok + failed, t.passes, format_bytes(double(t.repair_frames) * sym).c_str(),
      format_bytes(double(t.interleaved_symbols) * sym).c_str());
  if (t.stop_signal != 0) {
    out += printf_string("aborted by %s: receivers that were not done keep their partial data\n",
                         stop_signal_name(t.stop_signal));
  }
  return out;
}

std::string render_metrics(const MetricsSnapshot& s, const ReceiverRecords& receivers) {
  using control::metric_line;
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += control::metric_header(name, type, help);
  };
  family("shoal_sender_object_bytes", "gauge", "size of the object being sent");
  out += metric_line("shoal_sender_object_bytes", double(s.object_bytes));
  family("shoal_sender_rate_bps", "gauge", "configured multicast rate, bits/s at the IP level");
  out += metric_line("shoal_sender_rate_bps", double(s.rate_bps));
  family("shoal_sender_frames_sent_total", "counter", "multicast data frames sent");
  out += metric_line("shoal_sender_frames_sent_total", double(s.frames_sent));
  family("shoal_sender_repair_frames_total", "counter", "multicast repair frames sent");
  out += metric_line("shoal_sender_repair_frames_total", double(s.repair_frames));
  family("shoal_sender_passes_total", "counter", "multicast passes finished");
  out += metric_line("shoal_sender_passes_total", double(s.passes));
  family("shoal_sender_data_seconds", "gauge", "seconds since the data phase began (0 before)");
  out += metric_line("shoal_sender_data_seconds", s.data_seconds);
  std::map<std::string, size_t> states = {{"joining", s.joining}, {"joined", 0}, {"ready", 0},
                                          {"relaying", 0},        {"done", 0},   {"failed", 0}};
  family("shoal_sender_receiver_done", "gauge",
         "1 once the receiver verified the object, 0 while it has not (labels: name, address, "
         "path)");
  for (const auto& [id, r] : receivers) {
    switch (r.state) {
      case ReceiverState::kJoined:
        ++states["joined"];
        break;
      case ReceiverState::kReady:
        ++states["ready"];
        break;
      case ReceiverState::kRelaying:
        ++states["relaying"];
        break;
      case ReceiverState::kDone:
        ++states["done"];
        break;
      case ReceiverState::kFailed:
        ++states["failed"];
        break;
      case ReceiverState::kSuperseded:
        continue;
    }
    out += metric_line(
        "shoal_sender_receiver_done", r.state == ReceiverState::kDone ? 1 : 0,
        {{"name", r.name}, {"address", r.addr}, {"path", r.unicast ? "unicast" : "multicast"}});
  }
  family("shoal_sender_receivers", "gauge", "control connections by state");
  for (const auto& [state, n] : states) {
    out += metric_line("shoal_sender_receivers", double(n), {{"state", state}});
  }
  return out;
}

}  // namespace shoal::session
