// `shoal probe`: measure the multicast rate the network really carries to the receivers that join
// (probe/probe_sender.h; docs/probe.md explains the output).
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/admission_options.h"
#include "cli/commands.h"
#include "cli/group_option.h"
#include "cli/key_option.h"
#include "cli/tls_options.h"
#include "cli/transport_options.h"
#include "common/units.h"
#include "engine/net_iface.h"
#include "probe/probe_sender.h"

namespace shoal::cli {

namespace {

// "0.1%" or "0.001" -> 0.001.
bool parse_ratio(const std::string& text, double& out) {
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used < text.size() && text.substr(used) == "%") {
      v /= 100;
    } else if (used != text.size()) {
      return false;
    }
    if (!(v >= 0 && v < 1)) return false;
    out = v;
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

Action add_probe(CLI::App& app) {
  struct Args {
    probe::ProbeOptions o;
    std::string group = "239.255.0.1:9000", from = "50M", to = "10G", dwell = "1s",
                max_wait = "30s", threshold = "0.1%", headroom = "90%", key_file;
    AdmissionArgs admission;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "probe",
      "measure the multicast rate the network delivers to the receivers that join (they run "
      "`shoal recv --sender ...` as for a session) and recommend a --rate");
  sub->add_option("-g,--group", a->group, "multicast group and port to probe")
      ->capture_default_str();
  sub->add_option("-i,--iface", a->o.iface, "interface to send on (default: routing decides)");
  sub->add_option("-l,--listen", a->o.listen, "control-plane TCP address receivers connect to")
      ->capture_default_str();
  sub->add_option("-k,--key-file", a->key_file, "pre-shared key file from `shoal keygen`");
  sub->add_flag("--insecure", a->o.insecure, "run without authentication");
  add_tls_options(sub, a->o.tls);
  add_admission_options(sub, a->o.admission, a->admission);
  sub->add_option("-n,--min-receivers", a->o.min_receivers,
                  "start as soon as this many receivers joined")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000u));
  sub->add_option("-w,--max-wait", a->max_wait, "start after this long with whoever joined")
      ->capture_default_str();
  sub->add_option("--from", a->from, "first rate of the search (bits/s, k/M/G)")
      ->capture_default_str();
  sub->add_option("--to", a->to, "highest rate the search may try")->capture_default_str();
  sub->add_option("--dwell", a->dwell, "how long each search step sends (e.g. 1s, 500ms)")
      ->capture_default_str();
  sub->add_option("--loss-threshold", a->threshold,
                  "a rate passes when every receiver lost at most this (e.g. 0.1%)")
      ->capture_default_str();
  sub->add_option("--headroom", a->headroom,
                  "recommended --rate = highest passing rate x this (e.g. 90%)")
      ->capture_default_str();
  sub->add_option("--symbol-size", a->o.symbol_size,
                  "payload bytes per probe frame, as for `shoal send` (the rate depends on the "
                  "frame size)")
      ->capture_default_str()
      ->check(CLI::Range(16u, 9000u));
  sub->add_option("--ttl", a->o.ttl, "multicast TTL")
      ->capture_default_str()
      ->check(CLI::Range(0, 255));
  sub->add_flag("--loopback", a->o.loopback, "also deliver to receivers on this host");
  add_transport_options(sub, a->o.transport);
  sub->add_flag("!--no-realtime", a->o.realtime, "do not ask for real-time scheduling");
  sub->add_flag("!--no-unicast", a->o.unicast_check, "skip the unicast-vs-multicast comparison");
  sub->add_flag("!--no-mtu", a->o.mtu_check, "skip the MTU check");
  sub->add_option("--json", a->o.json_path, "write the result as JSON ('-' = stdout)");
  sub->add_option("--csv", a->o.csv_path, "write one row per step and receiver as CSV");
  sub->add_option("--plot", a->o.plot_path,
                  "write an SVG plot: delivered rate and loss vs offered rate, knee marked");
  return {sub, [a] {
            probe::ProbeOptions o = a->o;
            if (!take_group(a->group, o.group, o.port)) return 2;
            auto from = parse_rate(a->from), to = parse_rate(a->to);
            if (!from || !to || *from == 0 || *to < *from) {
              spdlog::error("--from/--to: {}", !from ? from.error()
                                               : !to ? to.error()
                                                     : "need 0 < --from <= --to");
              return 2;
            }
            o.from_bps = *from;
            o.to_bps = *to;
            auto dwell = parse_duration_ns(a->dwell), wait = parse_duration_ns(a->max_wait);
            if (!dwell || *dwell < 50'000'000 || !wait) {
              spdlog::error("--dwell/--max-wait: {}", !wait    ? wait.error()
                                                      : !dwell ? dwell.error()
                                                               : "--dwell must be at least 50ms");
              return 2;
            }
            o.dwell_ns = *dwell;
            o.max_wait_ns = *wait;
            if (!resolve_admission(a->admission, o.admission)) return 2;
            if (!parse_ratio(a->threshold, o.loss_threshold)) {
              spdlog::error("bad --loss-threshold '{}': e.g. 0.1% or 0.001", a->threshold);
              return 2;
            }
            if (!parse_ratio(a->headroom, o.headroom) || o.headroom <= 0) {
              if (a->headroom != "100%" && a->headroom != "1") {
                spdlog::error("bad --headroom '{}': e.g. 90% or 0.9", a->headroom);
                return 2;
              }
              o.headroom = 1.0;
            }
            if (!load_key(a->key_file, o.insecure, o.key, o.tls.enabled())) return 2;
            const probe::ProbeOutcome r = probe::run_probe(o);
            switch (r.kind) {
              case probe::ProbeOutcome::Kind::kBadInput:
                return 2;
              case probe::ProbeOutcome::Kind::kFailed:
                return 1;
              case probe::ProbeOutcome::Kind::kMeasured:
                break;
            }
            return r.outputs_written && r.result.recommended_bps > 0 ? 0 : 1;
          }};
}

}  // namespace shoal::cli
