#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "announce/announce.h"
#include "announce/announce_listener.h"
#include "announce/announce_wait.h"
#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/key_option.h"
#include "cli/tls_options.h"
#include "cli/transport_options.h"
#include "common/clock.h"
#include "common/printable.h"
#include "common/units.h"
#include "object/object_sink.h"
#include "object/target_disk.h"
#include "session/receiver.h"

namespace shoal::cli {

namespace {

// An announced sender is listening already: connecting to it gets what is left of
// --connect-timeout, but never less than this.
constexpr uint64_t kAnnouncedConnectNs = 5'000'000'000;

// Exactly one of --sender and --announce; --object only with --announce. False after saying why.
bool check_sender_choice(const std::string& sender, const std::string& announce,
                         const std::string& object) {
  if (!sender.empty() && !announce.empty()) {
    spdlog::error(
        "--sender and --announce are alternatives: pass --sender ADDR:PORT to join a sender you "
        "know, or --announce to join a session a `shoal send --announce` announces, not both");
    return false;
  }
  if (sender.empty() && announce.empty()) {
    spdlog::error(
        "no sender: pass --sender ADDR:PORT (the sender's --listen address), or --announce to "
        "wait for a session a `shoal send --announce` announces and join it");
    return false;
  }
  if (!object.empty() && announce.empty()) {
    spdlog::error("--object chooses among announced sessions: it needs --announce");
    return false;
  }
  return true;
}

// --target-from-announcement: --out becomes the disk the announcement's policy chooses on this
// machine (object/target_disk.h). Only a signed announcement may choose a disk to overwrite, and
// a policy that matches no disk or several is refused (exit 2), never guessed.
std::optional<int> take_announced_target(session::RecvOptions& o,
                                         const announce::AnnouncedSession& s) {
  if (s.target_policy.empty()) {
    spdlog::error(
        "the announced session names no target disk (its sender has no --target): name the "
        "disk with --out (shoal.out= in the initramfs), or send with --target");
    return 2;
  }
  if (s.key_index < 0) {
    spdlog::error(
        "the announcement names target '{}' but is unsigned: a disk to overwrite is taken only "
        "from an announcement signed with our key (--key-file)",
        printable(s.target_policy));
    return 2;
  }
  auto disks = object::list_disks();
  if (!disks) {
    spdlog::error("{}", disks.error());
    return 2;
  }
  auto path = object::choose_target(s.target_policy, *disks, s.object_size);
  if (!path) {
    spdlog::error("{}", path.error());
    return 2;
  }
  auto device = object::names_block_device(*path);
  if (!device || !*device) {
    spdlog::error("the announcement's target {} is not a block device on this machine{}",
                  printable(*path), device ? "" : ": " + device.error());
    return 2;
  }
  spdlog::info("target disk {} (the announcement's policy '{}')", *path,
               printable(s.target_policy));
  o.out = *path;
  return std::nullopt;
}

// --announce: waits for the session to join and points `o` at it. Returns an exit status on
// failure (2: bad options, 1: no matching announcement in time), nullopt when `o` is ready.
std::optional<int> find_announced_session(session::RecvOptions& o, const std::string& group,
                                          const std::string& object, uint64_t max_skew_ms,
                                          bool from_announcement) {
  auto unsigned_ok =
      announce::accept_unsigned_announcements(o.key ? 1 : 0, o.insecure, o.tls.enabled());
  if (!unsigned_ok) {
    spdlog::error("{}", unsigned_ok.error());
    return 2;
  }
  // Mistakes that need no sender are found now, not after the wait (run_receiver checks again).
  if (auto tls = control::tls_context_for(control::TlsContext::Role::kClient, o.tls); !tls) {
    spdlog::error("{}", tls.error());
    return 2;
  }
  if (Status local = session::check_local_options(o); !local) {
    spdlog::error("{}", local.error());
    return 2;
  }
  announce::AnnounceChecks checks;
  if (o.key) checks.keys.push_back(*o.key);
  checks.accept_unsigned = *unsigned_ok;
  checks.max_skew_ms = max_skew_ms;
  auto listener = announce::AnnounceListener::open(group, o.iface, std::move(checks));
  if (!listener) {
    spdlog::error("{}", listener.error());
    return 2;
  }
  spdlog::info("waiting for a session announcement on {}{}{}", group,
               o.iface.empty() ? "" : " via " + o.iface,
               object.empty() ? "" : " of an object matching '" + object + "'");
  const uint64_t t0 = shoal::monotonic_ns();
  auto found =
      announce::wait_for_announced_session(**listener, group, object, o.connect_timeout_ns);
  if (!found) {
    spdlog::error("{}", found.error());
    return 1;
  }
  spdlog::info("joining session {} '{}' ({}) announced by {}", session_hex(found->session_id),
               printable(found->object_name), format_bytes(double(found->object_size)),
               found->sender);
  if (from_announcement) {
    if (auto rc = take_announced_target(o, *found)) return rc;
  }
  o.sender = found->sender;
  // The sender there must run this session, of this object (the --object filter chose it).
  o.announced =
      session::AnnouncedSession{found->session_id, found->object_name, found->object_size};
  const uint64_t spent = shoal::monotonic_ns() - t0;
  o.connect_timeout_ns = std::max(o.connect_timeout_ns > spent ? o.connect_timeout_ns - spent : 0,
                                  kAnnouncedConnectNs);
  return std::nullopt;
}

// --sender A,B,...: a receiver whose relay fails (gone, aborted, dropped it) goes on to the
// next, resuming from what it verified: re-parenting, chosen by the receiver. Bad input ends it.
session::RecvResult run_with_fallback(session::RecvOptions o,
                                      const std::vector<std::string>& senders) {
  session::RecvResult r = session::run_receiver(o);
  for (size_t next = 1; next < senders.size() && !r.ok && !r.bad_input; ++next) {
    spdlog::warn("{} failed ({}); going on from {}{}", o.sender, r.reason, senders[next],
                 o.resume ? " with the blocks verified so far" : "");
    o.sender = senders[next];
    r = session::run_receiver(o);
  }
  return r;
}

}  // namespace

Action add_recv(CLI::App& app) {
  struct Args {
    session::RecvOptions o;
    std::vector<std::string> senders;  // --sender: the first, then those to fall back to
    std::string key_file, wait = "30s", memory = "1G";
    std::string events;
    std::string announce, object, skew = "5m";
    bool target_from_announcement = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("recv", "join a sender's session and write the verified object");
  sub->add_option("-s,--sender", a->senders,
                  "the sender's control address, e.g. 198.18.0.1:9100 (this or --announce); "
                  "several (repeated or comma-separated): a relay first, then where to go on "
                  "if it fails (another relay, the sender), resuming with what was verified")
      ->delimiter(',')
      ->check(checks::host_port());
  sub->add_option(
         "--announce", a->announce,
         "instead of --sender: wait for a session announced on this group (`shoal send "
         "--announce`), checked as `shoal recvd` checks them (signed with --key-file, or "
         "unsigned with TLS alone or --insecure; fresh), and join the first one that "
         "matches --object (no value: 239.255.0.2:9001); --connect-timeout bounds the wait")
      ->expected(0, 1)
      ->default_str(announce::kDefaultAnnounceGroup)
      ->check(checks::group_port());
  sub->add_option("--object", a->object,
                  "with --announce: join only a session whose object name matches this shell "
                  "glob, e.g. 'debian-12-*.img' (default: any)");
  sub->add_option(
         "--max-clock-skew", a->skew,
         "with --announce: ignore announcements whose timestamp is further than this from "
         "our clock (replays); 0 = do not check, for machines without a synchronised clock")
      ->capture_default_str()
      ->check(checks::duration());
  sub->add_option("-o,--out", a->o.out,
                  "where to write the object (written to a temporary name, renamed "
                  "only once verified); - = stdout, in order (through a spool file in --spool "
                  "or $TMPDIR; raw objects only); this or --target-from-announcement");
  sub->add_flag("--target-from-announcement", a->target_from_announcement,
                "with --announce, instead of --out: write to the disk the announcement's signed "
                "policy names (`shoal send --target`); refused when it matches no disk of this "
                "machine or several");
  sub->add_option("-i,--iface", a->o.iface,
                  "interface to join the group on (default: routing decides)");
  sub->add_option("-k,--key-file", a->key_file, "pre-shared key file from `shoal keygen`");
  sub->add_flag("--insecure", a->o.insecure, "join a sender that runs without authentication");
  add_tls_options(sub, a->o.tls);
  sub->add_option("--name", a->o.name, "name shown in the sender's summary (default: host name)");
  sub->add_option(
         "--connect-timeout", a->wait,
         "keep trying to reach the sender this long; with --announce, the bound on waiting "
         "for a matching announcement and then reaching its sender")
      ->capture_default_str()
      ->check(checks::duration());
  sub->add_option("--max-memory", a->memory, "memory for incomplete blocks (K/M/G)")
      ->capture_default_str()
      ->check(checks::size());
  add_transport_options(sub, a->o.transport);
  sub->add_option("--sync", a->o.sync,
                  "when data is forced to disk: end (fdatasync before the rename), periodic (also "
                  "about once a second), none (leave it to the kernel)")
      ->capture_default_str()
      ->check(CLI::IsMember({"end", "periodic", "none"}));
  sub->add_flag("--force", a->o.force,
                "write to a block device even if it is mounted; replace an existing directory "
                "when the sender sends a tree");
  sub->add_option("--spool", a->o.spool,
                  "directory for a tree or compressed object until it is unpacked (default: "
                  "beside --out; --state-dir for a block device), and with --out - for blocks "
                  "waiting for earlier ones or for the reader (default: $TMPDIR)");
  sub->add_flag("--zero-holes", a->o.zero_holes,
                "compressed image onto a block device: write zeros where the image has holes "
                "(default: skip them, the device keeps what it held there)");
  sub->add_flag("!--no-verify-thread", a->o.verify_thread,
                "check blocks against their hashes on the receive thread, not on a thread of "
                "their own (the default when two or more CPUs are usable)");
  sub->add_flag("--serve-peers", a->o.serve_peers,
                "once verified, serve the object to stragglers the sender assigns (peer repair: "
                "their unicast repair leaves this host's link, not the sender's) until the "
                "session ends; needs --key-file (or --insecure)");
  sub->add_option("--peer-listen", a->o.peer_listen,
                  "with --serve-peers: where to listen for peers, HOST:PORT (default: the address "
                  "this receiver reaches the sender from, any free port)");
  sub->add_flag("!--no-resume", a->o.resume,
                "start over instead of resuming from partial data of an earlier run, "
                "and remove partial data on failure");
  sub->add_option("--state-dir", a->o.state_dir, "where resume state for block devices is kept")
      ->capture_default_str();
  sub->add_option("--json", a->o.json_path, "write a JSON result to this file ('-' = stdout)");
  sub->add_option("--events", a->events,
                  "write events as they happen, one JSON object per line: join, start, pass, "
                  "done, fail ('-' = stdout)");
  sub->add_flag("--progress,!--no-progress", a->o.progress,
                "progress line on stderr (default: when a terminal)");
  a->o.progress = isatty(2);
  return {sub, [a] {
            session::RecvOptions o = a->o;
            if (!a->senders.empty()) o.sender = a->senders.front();
            if (!check_sender_choice(o.sender, a->announce, a->object)) return 2;
            if (a->senders.size() > 1 && o.out == "-") {
              spdlog::error(
                  "--out - with several --sender: a second sender would start the stream over; "
                  "give --out PATH (it resumes), or one --sender");
              return 2;
            }
            if (o.out.empty() == !a->target_from_announcement) {
              spdlog::error(o.out.empty()
                                ? "no output: pass --out PATH (or, with --announce, "
                                  "--target-from-announcement)"
                                : "--out and --target-from-announcement are alternatives: "
                                  "pass one");
              return 2;
            }
            if (a->target_from_announcement && a->announce.empty()) {
              spdlog::error(
                  "--target-from-announcement takes the disk from the session's announcement: "
                  "add --announce");
              return 2;
            }
            auto wait = parse_duration_ns(a->wait);
            if (!wait) {
              spdlog::error("--connect-timeout: {}", wait.error());
              return 2;
            }
            o.connect_timeout_ns = *wait;
            auto mem = parse_size(a->memory);
            if (!mem) {
              spdlog::error("--max-memory: {}", mem.error());
              return 2;
            }
            o.max_memory = *mem;
            if (!load_key(a->key_file, o.insecure, o.key, o.tls.enabled())) return 2;
            if (o.out == "-" && a->events == "-") {
              spdlog::error("--out - writes the object to stdout: give --events a file, not -");
              return 2;
            }
            auto events = EventLog::open(a->events);
            if (!events) {
              spdlog::error("{}", events.error());
              return 2;
            }
            o.events = *events;
            if (!a->announce.empty()) {
              auto skew = parse_duration_ns(a->skew);
              if (!skew) return 2;  // the validator said why
              if (auto rc = find_announced_session(o, a->announce, a->object, *skew / 1'000'000,
                                                   a->target_from_announcement))
                return *rc;
            }
            return session::exit_status(run_with_fallback(o, a->senders));
          }};
}

}  // namespace shoal::cli
