#include <spdlog/spdlog.h>
#include <unistd.h>

#include <memory>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/key_option.h"
#include "cli/tls_options.h"
#include "cli/transport_options.h"
#include "common/units.h"
#include "session/receiver.h"

namespace shoal::cli {

Action add_recv(CLI::App& app) {
  struct Args {
    session::RecvOptions o;
    std::string key_file, wait = "30s", memory = "1G";
    std::string events;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("recv", "join a sender's session and write the verified object");
  sub->add_option("-s,--sender", a->o.sender, "the sender's control address, e.g. 198.18.0.1:9100")
      ->required()
      ->check(checks::host_port());
  sub->add_option("-o,--out", a->o.out,
                  "where to write the object (written to a temporary name, renamed "
                  "only once verified)")
      ->required();
  sub->add_option("-i,--iface", a->o.iface,
                  "interface to join the group on (default: routing decides)");
  sub->add_option("-k,--key-file", a->key_file, "pre-shared key file from `shoal keygen`");
  sub->add_flag("--insecure", a->o.insecure, "join a sender that runs without authentication");
  add_tls_options(sub, a->o.tls);
  sub->add_option("--name", a->o.name, "name shown in the sender's summary (default: host name)");
  sub->add_option("--connect-timeout", a->wait, "keep trying to reach the sender this long")
      ->capture_default_str()
      ->check(checks::duration());
  sub->add_option("--max-memory", a->memory, "memory for incomplete blocks (K/M/G)")
      ->capture_default_str()
      ->check(checks::size());
  add_transport_options(sub, a->o.transport, a->o.dpdk_args, a->o.dpdk_device);
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
                  "beside --out; --state-dir for a block device)");
  sub->add_flag("--zero-holes", a->o.zero_holes,
                "compressed image onto a block device: write zeros where the image has holes "
                "(default: skip them, the device keeps what it held there)");
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
            auto events = session::EventLog::open(a->events);
            if (!events) {
              spdlog::error("{}", events.error());
              return 2;
            }
            o.events = *events;
            return session::run_receiver(o);
          }};
}

}  // namespace shoal::cli
