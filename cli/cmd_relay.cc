// `shoal relay`: joins a session upstream and sends the same object on into this segment
// (relay/relay.h). The downstream side takes `shoal send`'s options (cli/send_options.h) except
// those that choose or prepare the object; the upstream side has a few of `shoal recv`'s.
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/send_options.h"
#include "common/units.h"
#include "relay/relay.h"

namespace shoal::cli {

Action add_relay(CLI::App& app) {
  struct Args {
    SendArgs down;
    session::RecvOptions up;
    std::string wait = "30s", memory = "1G";
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "relay",
      "join a session upstream and send the same object on into this segment, block by block "
      "as it is verified (for receivers the upstream's multicast does not reach)");
  sub->add_option("--from", a->up.sender,
                  "the upstream sender's (or relay's) control address, e.g. 198.18.0.1:9100")
      ->required()
      ->check(checks::host_port());
  sub->add_option("--from-iface", a->up.iface,
                  "interface to join the upstream group on (default: routing decides)");
  sub->add_flag("--from-unicast", a->up.unicast_only,
                "the upstream's multicast cannot reach this relay (another segment): take the "
                "object by unicast at once, not after the 3 s beacon check");
  sub->add_option("--from-name", a->up.name,
                  "name shown in the upstream sender's summary (default: host name)");
  sub->add_option("--connect-timeout", a->wait, "keep trying to reach the upstream this long")
      ->capture_default_str()
      ->check(checks::duration());
  sub->add_option("--max-memory", a->memory, "memory for incomplete upstream blocks (K/M/G)")
      ->capture_default_str()
      ->check(checks::size());
  add_send_options(sub, a->down, SendRole::kRelay);
  return {sub, [a] {
            relay::RelayOptions o;
            if (!take_send_options(a->down, o.downstream)) return 2;
            o.fec_given = a->down.fec_option->count() > 0;
            o.upstream = a->up;
            // One key (or TLS identity) for both sides: the relay is a member of the fleet.
            o.upstream.key = o.downstream.key;
            o.upstream.insecure = o.downstream.insecure;
            o.upstream.tls = o.downstream.tls;
            o.upstream.spool = o.downstream.spool;
            o.upstream.progress = false;
            auto wait = parse_duration_ns(a->wait);
            auto mem = parse_size(a->memory);
            if (!wait || !mem) return 2;  // the validators said why
            o.upstream.connect_timeout_ns = *wait;
            o.upstream.max_memory = *mem;
            return relay::exit_status(relay::run_relay(std::move(o)));
          }};
}

}  // namespace shoal::cli
