#include "cli/send_options.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "cli/config_file.h"
#include "cli/group_option.h"
#include "cli/hosts_file.h"
#include "cli/key_option.h"
#include "cli/tls_options.h"
#include "cli/transport_options.h"
#include "common/units.h"
#include "object/chunk_codec.h"
#include "object/target_disk.h"
#include "probe/probe_autorate.h"

namespace shoal::cli {

void add_send_options(CLI::App* sub, SendArgs& a, SendRole role) {
  if (role == SendRole::kSender) {
    sub->add_option("object", a.o.path,
                    "file, block device or directory to send (a directory goes as one packed "
                    "tree: files, modes, symlinks, empty directories, mtimes); - = stdin (give "
                    "--name), spooled whole first, or read while sending with --size")
        ->required();
    sub->add_option("--compress", a.o.compress,
                    "send zstd-compressed 1 MiB chunks, all-zero chunks not at all (receivers "
                    "write them as holes): zstd or zstd:LEVEL (1..19, default 3)")
        ->check(CLI::Validator(
            [](std::string& t) {
              auto l = object::parse_compress_option(t);
              return l ? std::string() : l.error();
            },
            "zstd[:LEVEL]"));
  }
  const bool relay = role == SendRole::kRelay;
  sub->add_option("--spool", a.o.spool,
                  relay ? "directory where the object waits between upstream and downstream "
                          "(default: $TMPDIR or /tmp; needs room for --spool-max)"
                        : "directory where a packed tree, a compressed object or stdin is kept "
                          "while sending (default: $TMPDIR or /tmp; needs room for it, or for "
                          "--spool-max)");
  if (role == SendRole::kSender) {
    sub->add_option("--size", a.pipe_size,
                    "with -: the exact length of stdin (e.g. blockdev --getsize64); stdin is then "
                    "read while the session runs, and the spool holds only what repair may still "
                    "need (--spool-max) instead of all of it")
        ->check(checks::size());
  }
  sub->add_option("--spool-max", a.spool_max,
                  std::string(relay ? "the most of the object kept at once for downstream repair"
                                    : "with - --size: the most of stdin kept at once") +
                      " (at least 64M); a receiver that falls that far behind fails, so that the "
                      "others go on")
      ->capture_default_str()
      ->check(checks::size());
  if (role == SendRole::kSender) {
    sub->add_option("--manifest-cache", a.o.manifest_cache_dir,
                    "where block hashes of files already sent are kept, so an unchanged file "
                    "starts at once (default: $SHOAL_CACHE_DIR, $XDG_CACHE_HOME/shoal or "
                    "~/.cache/shoal, + /manifests)");
    sub->add_flag("!--no-manifest-cache", a.o.manifest_cache,
                  "hash the object even if it was sent unchanged before, and keep no hashes");
  }
  sub->add_option("-g,--group", a.group,
                  "multicast group and port (use 239.0.0.0/8, organisation-local)")
      ->capture_default_str()
      ->check(checks::group_port());
  sub->add_option("-i,--iface", a.o.iface,
                  "interface to send on (default: the one routing to the group)");
  sub->add_option("-l,--listen", a.o.listen, "control-plane TCP address receivers connect to")
      ->capture_default_str()
      ->check(checks::endpoint());
  sub->add_option("-r,--rate", a.rate,
                  "multicast rate in bits/s at the IP level, k/M/G suffixes; stay under "
                  "the switch's multicast cap; auto[:PROBE.json] = set by a loss-driven "
                  "controller, from a `shoal probe --json` result if given (docs/probe.md); "
                  "max[:CEILING] = the fastest rate every receiver keeps up with (no cap "
                  "expected; never above CEILING), found by the same controller")
      ->capture_default_str()
      ->check(checks::rate() |
              CLI::Validator(
                  [](std::string& t) { return probe::is_rate_auto(t) ? std::string() : "no auto"; },
                  "auto[:FILE]|max[:CEILING]"));
  sub->add_option("--burst", a.burst,
                  "largest burst the pacer releases at once, bytes (K/M suffixes); "
                  "keep it within the switch's burst tolerance; auto = 32K up to 1 Gbit/s, "
                  "1 ms of data above")
      ->capture_default_str()
      ->check(checks::size_or_auto());
  sub->add_option("--hosts", a.hosts_file,
                  "file naming the receivers expected, one per line (receiver name, address or "
                  "certificate name): start once all joined (or at --max-wait); one that never "
                  "joined counts as failed in the summary, --json and exit status")
      ->check(CLI::ExistingFile);
  sub->add_option("-n,--min-receivers", a.o.min_receivers,
                  "start as soon as this many receivers joined")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000000u));
  sub->add_option("-w,--max-wait", a.max_wait,
                  "start after this long with whoever joined (e.g. 30s, 2m)")
      ->capture_default_str()
      ->check(checks::duration());
  if (role == SendRole::kSender) {
    sub->add_option("--until", a.until,
                    "keep the session joinable this long after the start (e.g. 10m): "
                    "announcements go on, receivers that join late get what they lack, those "
                    "done are not disturbed; for machines that boot over a while")
        ->check(checks::duration());
  }
  sub->add_option("-k,--key-file", a.key_file, "pre-shared key file from `shoal keygen`");
  sub->add_flag("--insecure", a.o.insecure,
                "run without authentication (anyone reaching the port can join)");
  add_tls_options(sub, a.o.tls);
  sub->add_flag("--encrypt", a.o.encrypt,
                "encrypt data frames (AES-256-GCM) for objects that carry secrets; frames are "
                "authenticated either way");
  sub->add_flag("!--no-frame-auth", a.o.frame_auth,
                "send data frames without their authentication tag (benchmarks only: anyone on "
                "the segment could then inject data)");
  sub->add_option("--scope", a.scope,
                  "receivers the session's multicast does not reach: auto = serve them the "
                  "object by unicast over the control connection, strict = refuse them")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "strict"}));
  sub->add_flag("!--no-peer-repair", a.o.peer_repair,
                "serve every unicast repair pass from this host, even when receivers that are "
                "done offer to serve peers (recv --serve-peers); off anyway with --encrypt");
  sub->add_option("--slow-receiver", a.slow,
                  "a receiver that lacks much more than the others after a pass (a slower port, "
                  "disk or CPU): unicast = serve it the rest over its control connection at the "
                  "pace it takes, wait = lower the rate to what it received (wins over --rate "
                  "auto), drop = fail it at once")
      ->capture_default_str()
      ->check(CLI::IsMember({"unicast", "wait", "drop"}));
  add_admission_options(sub, a.o.admission, a.admission);
  a.fec_option =
      sub->add_option("--fec", a.fec,
                      "K+M: K source symbols per block, M proactive repair symbols per block "
                      "sent with the first pass (more repair follows only as loss needs)")
          ->capture_default_str()
          ->check(checks::fec_spec());
  a.symbol_size = sub->add_option("--symbol-size", a.o.symbol_size,
                                  "payload bytes per frame, a multiple of 64 (1408 fits a "
                                  "1500 MTU, 8896 a 9000 MTU; checked against the "
                                  "interface's MTU; by default smaller if the MTU is)")
                      ->capture_default_str();
  sub->add_option("--ttl", a.o.ttl,
                  "multicast TTL (1 = this L2 segment only; receivers it does not reach get "
                  "unicast, see --scope)")
      ->capture_default_str()
      ->check(CLI::Range(0, 255));
  sub->add_flag("--loopback", a.o.loopback,
                "also deliver to receivers on this host (IP_MULTICAST_LOOP)");
  sub->add_option("--max-passes", a.o.max_passes,
                  "repair passes before a receiver still missing data fails")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000u));
  add_transport_options(sub, a.o.transport);
  sub->add_flag("!--no-realtime", a.o.realtime,
                "do not ask for real-time scheduling of the pacing thread "
                "(asked by default so the pace holds on a busy host)");
  sub->add_option("--name", a.o.object_name, "object name shown to receivers (default: file name)");
  sub->add_option("--announce", a.o.announce,
                  "announce the session on this group while waiting for receivers, so `shoal "
                  "recvd` daemons join without --sender (no value: 239.255.0.2:9001)")
      ->expected(0, 1)
      ->default_str("239.255.0.2:9001")
      ->check(checks::group_port());
  sub->add_option("--target", a.o.target_policy,
                  "with --announce: the disk receivers that take their target from the "
                  "announcement write to (the initramfs without shoal.out=, recv "
                  "--target-from-announcement): /dev/PATH, disk (the only one), "
                  "disk:model=GLOB or disk:serial=GLOB; a receiver where it matches no disk or "
                  "several refuses, never guesses")
      ->check([](const std::string& v) {
        Status ok = object::check_target_policy(v);
        return ok ? std::string() : ok.error();
      });
  sub->add_option("--json", a.o.json_path, "write a JSON summary to this file ('-' = stdout)");
  sub->add_option("--metrics", a.o.metrics,
                  "serve Prometheus metrics at this address while sending, e.g. 127.0.0.1:9102 "
                  "(GET /metrics)");
  sub->add_option("--events", a.events,
                  "write events as they happen, one JSON object per line: join, start, pass, "
                  "repair, slow, done, fail, end ('-' = stdout)");
  sub->add_flag("--progress,!--no-progress", a.o.progress,
                "progress line on stderr (default: when a terminal)");
  a.o.progress = isatty(2);
}

bool take_send_options(SendArgs& a, session::SendOptions& o) {
  o = a.o;
  o.symbol_size_given = a.symbol_size->count() > 0;
  while (o.path.size() > 1 && o.path.back() == '/') o.path.pop_back();  // "dir/" names dir
  if (!take_group(a.group, o.group, o.port)) return false;
  if (!o.target_policy.empty() && o.announce.empty()) {
    spdlog::error(
        "--target goes into the session's announcement: add --announce (receivers that "
        "join with --sender name their disk themselves with --out)");
    return false;
  }
  auto rate = probe::is_rate_auto(a.rate) ? Result<uint64_t>(0) : parse_rate(a.rate);
  if (probe::is_rate_auto(a.rate)) o.rate_auto = a.rate;  // probe/probe_autorate.h
  if (!rate) {
    spdlog::error("--rate: {}", rate.error());
    return false;
  }
  o.rate_bps = *rate;
  if (a.burst != "auto") {
    auto burst = parse_size(a.burst);
    if (!burst || *burst < 4096) {
      spdlog::error("--burst: {}", burst ? "at least 4K is needed for one batch" : burst.error());
      return false;
    }
    o.burst_bytes = *burst;
  }
  auto wait = parse_duration_ns(a.max_wait);
  if (!wait) {
    spdlog::error("--max-wait: {}", wait.error());
    return false;
  }
  o.max_wait_ns = *wait;
  if (!a.until.empty()) {
    auto until = parse_duration_ns(a.until);
    if (!until || *until == 0) {
      spdlog::error("--until: {}", until ? "must be longer than 0" : until.error());
      return false;
    }
    o.until_ns = *until;
  }
  if (!a.pipe_size.empty()) {
    o.pipe_size = *parse_size(a.pipe_size);  // checked by the option's validator
    if (o.pipe_size == 0) {
      spdlog::error("--size 0: an empty stdin has nothing to send");
      return false;
    }
  }
  o.spool_max = *parse_size(a.spool_max);
  if (!resolve_admission(a.admission, o.admission)) return false;
  if (!a.hosts_file.empty()) {
    auto hosts = read_hosts_file(a.hosts_file);
    if (!hosts) {
      spdlog::error("--hosts: {}", hosts.error());
      return false;
    }
    o.hosts = std::move(*hosts);
  }
  o.scope_strict = a.scope == "strict";
  o.slow_receiver = a.slow == "wait"   ? session::SlowPolicy::kWait
                    : a.slow == "drop" ? session::SlowPolicy::kDrop
                                       : session::SlowPolicy::kUnicast;
  unsigned k = 0, m = 0;
  char extra = 0;
  if (std::sscanf(a.fec.c_str(), "%u+%u%c", &k, &m, &extra) != 2 || k == 0 || k + m > 255) {
    spdlog::error("bad --fec '{}': expected K+M with K >= 1 and K+M <= 255, e.g. 64+4", a.fec);
    return false;
  }
  o.k = k;
  o.proactive = m;
  if (!load_key(a.key_file, o.insecure, o.key, o.tls.enabled())) return false;
  auto events = EventLog::open(a.events);
  if (!events) {
    spdlog::error("{}", events.error());
    return false;
  }
  o.events = *events;
  return true;
}

int send_exit_status(const session::SendResult& r) {
  switch (r.outcome) {
    case session::SendOutcome::kAllVerified:
      return 0;
    case session::SendOutcome::kBadInput:
      return 2;
    case session::SendOutcome::kAborted:
      return 128 + r.stop_signal;
    case session::SendOutcome::kSomeFailed:
    case session::SendOutcome::kNobodyJoined:
    case session::SendOutcome::kError:
      return 1;
  }
  return 1;
}

}  // namespace shoal::cli
