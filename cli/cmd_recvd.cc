// `shoal recvd`: the receiver daemon (daemon/recv_daemon.h).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "announce/announce.h"
#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/key_option.h"
#include "cli/tls_options.h"
#include "cli/transport_options.h"
#include "common/units.h"
#include "daemon/recv_daemon.h"

namespace shoal::cli {

namespace {

// A rule's directory (or, for a file or device destination, its parent) must exist: a daemon
// should fail at start, not at the first session.
bool check_rule(daemon::MapRule& r) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (r.dest.back() != '/' && fs::is_directory(r.dest, ec)) r.dest += '/';
  if (fs::is_block_file(r.dest, ec)) return true;
  const fs::path dir = r.dest.back() == '/' ? fs::path(r.dest) : fs::path(r.dest).parent_path();
  if (!dir.empty() && !fs::is_directory(dir, ec)) {
    spdlog::error("--map {}={}: directory '{}' does not exist", r.pattern, r.dest, dir.string());
    return false;
  }
  return true;
}

}  // namespace

Action add_recvd(CLI::App& app) {
  struct Args {
    daemon::DaemonOptions d;
    std::vector<std::string> key_files, maps;
    std::string wait = "10s", memory = "1G", hook_timeout = "10m", skew = "5m";
  };
  auto a = std::make_shared<Args>();
  a->d.announce = announce::kDefaultAnnounceGroup;
  auto* sub = app.add_subcommand(
      "recvd",
      "stay up and receive the sessions senders announce (`shoal send --announce`) that the "
      "policy accepts; for provisioning many machines at once");
  sub->add_option("--announce", a->d.announce, "multicast group and port to hear announcements on")
      ->capture_default_str()
      ->check(checks::group_port());
  sub->add_option("-i,--iface", a->d.receiver.iface,
                  "interface to hear announcements and join groups on (default: routing decides)");
  sub->add_option("-k,--key-file", a->key_files,
                  "pre-shared key file; repeat for the keys of several senders: an announcement "
                  "signed with any of them is accepted, and its session joined with that key");
  // TLS: every session's control connection uses these certificates. Without a key, unsigned
  // announcements are accepted (daemon/recv_daemon.h explains why that is safe).
  add_tls_options(sub, a->d.receiver.tls);
  sub->add_flag("--insecure", a->d.insecure,
                "accept unsigned announcements and join their sessions without authentication");
  sub->add_option("-m,--map", a->maps,
                  "PATTERN=DEST: accept objects whose name matches the shell glob PATTERN and "
                  "write them to DEST (a file, a block device, or a directory ending in '/'); "
                  "repeatable, the first match wins, objects matching none are refused")
      ->required();
  sub->add_option("--max-sessions", a->d.max_sessions, "sessions received at the same time")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  sub->add_option("--metrics", a->d.metrics,
                  "serve Prometheus metrics at this address, e.g. 127.0.0.1:9102 (GET /metrics)");
  sub->add_option("--events", a->d.events,
                  "daemon events as they happen, one JSON object per line (- = stdout): "
                  "session_start, session_end (outcome, bytes, sha256 or reason), "
                  "session_refused, hook");
  sub->add_option("--status", a->d.status,
                  "keep a JSON status document in this file, rewritten on every change: sessions "
                  "running, totals by outcome, bytes received, last success and failure");
  sub->add_option("--json", a->d.json, "write the same status document here at exit (- = stdout)");
  sub->add_option("--hook", a->d.hook,
                  "program run after each verified object as `HOOK PATH SHA256` (environment: "
                  "SHOAL_PATH, SHOAL_SHA256, SHOAL_OBJECT, SHOAL_SIZE, SHOAL_SESSION, "
                  "SHOAL_SENDER)");
  sub->add_option("--hook-timeout", a->hook_timeout, "stop a hook still running after this long")
      ->capture_default_str()
      ->check(checks::duration());
  sub->add_option("--max-clock-skew", a->skew,
                  "ignore announcements whose timestamp is further than this from our clock "
                  "(replays); 0 = do not check, for machines without a synchronised clock")
      ->capture_default_str()
      ->check(checks::duration());
  sub->add_option("--name", a->d.receiver.name,
                  "name shown in the senders' summaries (default: host name)");
  sub->add_option("--connect-timeout", a->wait,
                  "keep trying to reach an announced sender this long")
      ->capture_default_str()
      ->check(checks::duration());
  sub->add_option("--max-memory", a->memory, "memory for incomplete blocks, per session (K/M/G)")
      ->capture_default_str()
      ->check(checks::size());
  add_transport_options(sub, a->d.receiver.transport);
  sub->add_option("--sync", a->d.receiver.sync,
                  "when data is forced to disk: end, periodic or none (as for recv)")
      ->capture_default_str()
      ->check(CLI::IsMember({"end", "periodic", "none"}));
  sub->add_flag("--force", a->d.receiver.force, "write to block devices even if mounted");
  sub->add_flag("!--no-resume", a->d.receiver.resume,
                "start every session over instead of resuming partial data of an earlier one");
  sub->add_option("--state-dir", a->d.receiver.state_dir,
                  "where resume state for block devices is kept")
      ->capture_default_str();
  sub->add_flag("--serve-peers", a->d.receiver.serve_peers,
                "once a session's object is verified, serve it to the stragglers its sender "
                "assigns until that session ends (peer repair; the hook runs then)");
  return {sub, [a] {
            daemon::DaemonOptions d = a->d;
            auto wait = parse_duration_ns(a->wait);
            auto mem = parse_size(a->memory);
            auto hook_timeout = parse_duration_ns(a->hook_timeout);
            auto skew = parse_duration_ns(a->skew);
            if (!wait || !mem || !hook_timeout || !skew) return 2;  // the validators said why
            d.receiver.connect_timeout_ns = *wait;
            d.receiver.max_memory = *mem;
            d.hook_timeout_ns = *hook_timeout;
            d.max_skew_ms = *skew / 1'000'000;
            for (const std::string& f : a->key_files) {
              std::optional<control::Key> key;
              if (!load_key(f, d.insecure, key)) return 2;
              d.keys.push_back(*key);
            }
            for (const std::string& m : a->maps) {
              auto rule = daemon::parse_map_rule(m);
              if (!rule) {
                spdlog::error("{}", rule.error());
                return 2;
              }
              if (!check_rule(*rule)) return 2;
              d.rules.push_back(std::move(*rule));
            }
            return daemon::run_recv_daemon(d);
          }};
}

}  // namespace shoal::cli
