#include "probe/probe_report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "common/units.h"
#include "probe/probe_stats.h"

namespace shoal::probe {
namespace {

constexpr double kMtuPassLoss = 0.1;  // small frames count as "passing" below this loss
constexpr double kMtuDropLoss = 0.5;  // large frames count as "dropped" above it

std::string percent(double ratio) {
  char buf[32];
  if (ratio <= 0) return "0%";
  std::snprintf(buf, sizeof buf,
                ratio < 0.001 ? "%.4f%%"
                : ratio < 0.1 ? "%.2f%%"
                              : "%.1f%%",
                ratio * 100);
  return buf;
}

std::string ipv4_text(uint32_t host_order) {
  return std::to_string(host_order >> 24) + "." + std::to_string((host_order >> 16) & 255) + "." +
         std::to_string((host_order >> 8) & 255) + "." + std::to_string(host_order & 255);
}

// A --rate value a person can paste: whole Mbit/s from 10M up, else kbit/s.
uint64_t round_rate(double bps) {
  if (bps >= 10e6) return static_cast<uint64_t>(bps / 1e6) * 1'000'000;
  return static_cast<uint64_t>(bps / 1e3) * 1000;
}

std::string rate_option(uint64_t bps) {
  if (bps % 1'000'000 == 0) return std::to_string(bps / 1'000'000) + "M";
  return std::to_string(bps / 1000) + "k";
}

const StepResult* find_step(const ProbeResult& p, StepKind kind, int unicast_to = -1) {
  for (const StepResult& s : p.steps) {
    if (s.kind == kind && (kind != StepKind::kUnicast || s.unicast_to == unicast_to)) return &s;
  }
  return nullptr;
}

// The step of the search with the worst loss at the lowest failing rate, for the verdict.
std::string worst_at(const ProbeResult& p, uint64_t rate) {
  for (const StepResult& s : p.steps) {
    if (s.kind != StepKind::kSearch || s.pass || s.redone) continue;
    if (std::min(s.target_bps, s.offered_bps) != rate && s.target_bps != rate) continue;
    size_t worst = 0;
    double loss = -1;
    for (size_t r = 0; r < s.receivers.size(); ++r) {
      if (!counts_for_search(p.receivers[r])) continue;
      if (step_loss(s, r) > loss) {
        loss = step_loss(s, r);
        worst = r;
      }
    }
    if (loss >= 0)
      return " (at " + format_rate(double(rate)) + " " + p.receivers[worst].name + " lost " +
             percent(loss) + ")";
  }
  return "";
}

void diagnose_unicast(const ProbeResult& p, size_t i, ReceiverInfo& r) {
  const StepResult* u = find_step(p, StepKind::kUnicast, static_cast<int>(i));
  const StepResult* m = find_step(p, StepKind::kReference);
  if (!u || !u->receivers[i].answered) {
    r.unicast_verdict = "not measured";
    return;
  }
  const double thr = p.loss_threshold;
  r.unicast_loss = step_loss(*u, i);
  if (m && m->receivers[i].answered) r.reference_loss = step_loss(*m, i);
  const std::string at = " at " + format_rate(double(u->offered_bps));
  if (u->receivers[i].received == 0) {
    r.unicast_verdict =
        "unicast UDP does not reach it either" + at + ": a firewall dropping UDP, or no route back";
  } else if (!r.heard) {
    r.unicast_verdict =
        "unicast reaches it (loss " + percent(r.unicast_loss) + at + ") but multicast does not";
  } else if (r.reference_loss < 0) {
    r.unicast_verdict = "unicast loss " + percent(r.unicast_loss) + at;
  } else if (!m || double(u->offered_bps) < 0.95 * double(m->offered_bps) ||
             double(m->offered_bps) < 0.95 * double(u->offered_bps)) {
    // Loss depends on the rate: different rates compare nothing.
    r.unicast_verdict = "not comparable: the sender offered " +
                        format_rate(double(u->offered_bps)) + " unicast but " +
                        format_rate(double(m->offered_bps)) + " multicast (multicast " +
                        percent(r.reference_loss) + ", unicast " + percent(r.unicast_loss) + ")";
  } else if (r.reference_loss > thr && r.unicast_loss < 0.25 * r.reference_loss) {
    r.unicast_verdict = "multicast-specific loss: multicast lost " + percent(r.reference_loss) +
                        at + ", unicast " + percent(r.unicast_loss) +
                        " (a multicast policer or storm control on the path)";
  } else if (r.reference_loss > thr) {
    r.unicast_verdict =
        std::string(r.unicast_loss >= 0.5 * r.reference_loss ? "unicast loses as much"
                                                             : "unicast loses less") +
        ": multicast " + percent(r.reference_loss) + ", unicast " + percent(r.unicast_loss) + at +
        (r.unicast_loss >= 0.5 * r.reference_loss
             ? " (the limit is the link or the receiver, not multicast-specific)"
             : "");
  } else if (r.unicast_loss > thr) {
    r.unicast_verdict = "unicast loses more: multicast " + percent(r.reference_loss) +
                        ", unicast " + percent(r.unicast_loss) + at +
                        " (a unicast limit, or unicast takes another path)";
  } else {
    r.unicast_verdict = "no difference: multicast " + percent(r.reference_loss) + ", unicast " +
                        percent(r.unicast_loss) + at;
  }
}

void diagnose_mtu(const ProbeResult& p, size_t i, ReceiverInfo& r) {
  const StepResult* small = find_step(p, StepKind::kMtuSmall);
  const StepResult* large = find_step(p, StepKind::kMtuLarge);
  if (!small || !large || !small->receivers[i].answered || !large->receivers[i].answered) {
    r.mtu_verdict = "not checked";
    return;
  }
  if (!r.heard) {
    r.mtu_verdict = "not checked: it hears no multicast";
    return;
  }
  const double ls = step_loss(*small, i), ll = step_loss(*large, i);
  const std::string big = std::to_string(large->frame_bytes) + "-byte";
  const std::string std_size = std::to_string(small->frame_bytes) + "-byte";
  if (ls <= kMtuPassLoss && ll >= kMtuDropLoss) {
    r.mtu_verdict = big + " datagrams dropped (" + percent(ll) + ") while " + std_size +
                    " ones pass: the path MTU is below " + std::to_string(large->frame_bytes + 28) +
                    "; keep --symbol-size 1408 or fix the MTU";
  } else if (ls <= kMtuPassLoss && ll <= kMtuPassLoss) {
    r.mtu_verdict = big + " and " + std_size + " datagrams pass";
  } else {
    r.mtu_verdict = "inconclusive: " + std_size + " datagrams lost " + percent(ls) + ", " + big +
                    " ones " + percent(ll);
  }
}

}  // namespace

const char* to_string(StepKind kind) {
  switch (kind) {
    case StepKind::kSearch:
      return "search";
    case StepKind::kReference:
      return "reference";
    case StepKind::kUnicast:
      return "unicast";
    case StepKind::kMtuSmall:
      return "mtu-small";
    case StepKind::kMtuLarge:
      return "mtu-large";
  }
  return "?";
}

double step_loss(const StepResult& s, size_t r) {
  return StepStats::loss_ratio(s.frames_sent, s.receivers[r].received);
}

double delivered_bps(const StepResult& s, size_t r) {
  if (s.frames_sent == 0) return 0;
  const double got = double(std::min(s.receivers[r].received, s.frames_sent));
  return double(s.offered_bps) * got / double(s.frames_sent);
}

bool counts_for_search(const ReceiverInfo& r) {
  return r.joined && r.heard && r.failure.empty();
}

void diagnose(ProbeResult& p) {
  p.recommended_bps = p.max_ok_bps ? round_rate(double(p.max_ok_bps) * p.headroom) : 0;
  for (size_t i = 0; i < p.receivers.size(); ++i) {
    ReceiverInfo& r = p.receivers[i];
    r.hints.clear();
    diagnose_unicast(p, i, r);
    diagnose_mtu(p, i, r);
    if (!r.failure.empty()) r.hints.push_back("dropped out: " + r.failure);
    if (r.joined && !r.heard) {
      r.hints.push_back(
          "heard no multicast: likely IGMP snooping without a querier on the VLAN (the switch "
          "never forwards the group to its port; enable an IGMP querier), the wrong --iface on "
          "the receiver, or a router between them (sender --ttl " +
          std::to_string(p.ttl) + ")");
    }
    if (r.iface_ipv4 != 0 && !r.address.empty() && ipv4_text(r.iface_ipv4) != r.address) {
      r.hints.push_back("joined the group on " + r.iface + " (" + ipv4_text(r.iface_ipv4) +
                        ") but reaches the sender from " + r.address + ": check --iface");
    }
    for (const StepResult& s : p.steps) {
      if (s.kind == StepKind::kSearch && !s.pass && !s.redone && s.receivers[i].socket_drops > 0 &&
          s.receivers[i].socket_drops * 2 >=
              StepStats::lost(s.frames_sent, s.receivers[i].received)) {
        r.hints.push_back("its kernel dropped " + std::to_string(s.receivers[i].socket_drops) +
                          " datagrams on a full receive queue at " +
                          format_rate(double(s.offered_bps)) +
                          ": part of the loss is the receiver being too slow, not the network");
        break;
      }
    }
  }

  const std::string thr = percent(p.loss_threshold);
  size_t heard = 0;
  for (const auto& r : p.receivers) heard += counts_for_search(r) ? 1 : 0;
  if (heard == 0) {
    p.verdict = "no receiver hears the group: nothing measured (see the hints per receiver)";
    return;
  }
  const std::string rec = p.recommended_bps
                              ? "; recommended --rate " + rate_option(p.recommended_bps) + " (" +
                                    std::to_string(int(std::lround(p.headroom * 100))) + "% of it)"
                              : "";
  switch (p.limit) {
    case SearchLimit::kNetwork:
    case SearchLimit::kSteps:
      p.verdict = "highest rate with loss <= " + thr +
                  " at every receiver: " + format_rate(double(p.max_ok_bps)) +
                  worst_at(p, p.first_bad_bps) + rec;
      if (p.limit == SearchLimit::kSteps)
        p.verdict += " (the search ran out of steps before converging)";
      break;
    case SearchLimit::kSender:
      p.verdict = "the sender could not offer more than " + format_rate(double(p.max_ok_bps)) +
                  " and every receiver kept loss <= " + thr +
                  " there: the limit found is the sender's, not the network's" + rec;
      break;
    case SearchLimit::kRange:
      p.verdict = "no loss above " + thr + " up to " + format_rate(double(p.max_ok_bps)) +
                  ", the top of the range (--to): the limit is higher" + rec;
      break;
    case SearchLimit::kNoPass:
      p.verdict = "every rate tried lost more than " + thr + " at some receiver, down to " +
                  format_rate(double(p.first_bad_bps)) +
                  ": loss that does not depend on the rate (a lossy link?); see the table";
      break;
    case SearchLimit::kNone:
      p.verdict = "the search did not finish" + rec;
      break;
  }
}

void print_table(const ProbeResult& p, std::FILE* out) {
  std::fprintf(out, "\n%4s %-10s %14s %14s %9s  %-26s %14s %11s %7s %5s  %s\n", "step", "kind",
               "target", "offered", "frames", "worst loss (receiver)", "min delivered",
               "max spread", "reorder", "dup", "verdict");
  for (const StepResult& s : p.steps) {
    double worst = -1, min_deliv = -1, spread = 0;
    uint64_t reord = 0, dup = 0;
    std::string who = "-";
    for (size_t r = 0; r < s.receivers.size(); ++r) {
      const ReceiverStep& rs = s.receivers[r];
      if (!rs.answered) continue;
      if (s.kind != StepKind::kUnicast && !counts_for_search(p.receivers[r])) continue;
      const double l = step_loss(s, r);
      if (l > worst) {
        worst = l;
        who = p.receivers[r].name;
      }
      const double d = delivered_bps(s, r);
      if (min_deliv < 0 || d < min_deliv) min_deliv = d;
      if (rs.has_delay) spread = std::max(spread, double(rs.delay_max_ns - rs.delay_min_ns));
      reord += rs.reordered;
      dup += rs.duplicated;
    }
    std::string kind = s.kind == StepKind::kSearch ? s.phase : to_string(s.kind);
    if (s.kind == StepKind::kUnicast && s.unicast_to >= 0)
      kind = "uni:" + p.receivers[size_t(s.unicast_to)].name;
    const std::string worst_text = worst < 0 ? "-" : percent(worst) + " (" + who + ")";
    char spread_text[32];
    std::snprintf(spread_text, sizeof spread_text, "%.2f ms", spread / 1e6);
    std::fprintf(out, "%4u %-10.10s %14s %14s %9llu  %-26.26s %14s %11s %7llu %5llu  %s\n", s.step,
                 kind.c_str(), format_rate(double(s.target_bps)).c_str(),
                 format_rate(double(s.offered_bps)).c_str(), (unsigned long long)s.frames_sent,
                 worst_text.c_str(), min_deliv < 0 ? "-" : format_rate(min_deliv).c_str(),
                 spread_text, (unsigned long long)reord, (unsigned long long)dup,
                 s.kind != StepKind::kSearch ? ""
                 : s.redone                  ? "(repeated)"
                 : s.pass                    ? "ok"
                                             : "LOSS");
  }
  std::fprintf(out, "\n%-16s %-16s %-6s %-8s  %s\n", "receiver", "address", "heard", "iface",
               "unicast vs multicast / MTU / hints");
  for (const ReceiverInfo& r : p.receivers) {
    std::fprintf(out, "%-16.16s %-16s %-6s %-8.8s  %s\n", r.name.c_str(), r.address.c_str(),
                 !r.joined ? "-"
                 : r.heard ? "yes"
                           : "NO",
                 r.iface.c_str(), r.unicast_verdict.c_str());
    std::fprintf(out, "%50s MTU: %s\n", "", r.mtu_verdict.c_str());
    for (const std::string& h : r.hints) std::fprintf(out, "%50s ! %s\n", "", h.c_str());
  }
  std::fprintf(out, "\nresult: %s\n", p.verdict.c_str());
  std::fflush(out);
}

nlohmann::json to_json(const ProbeResult& p) {
  nlohmann::json j;
  j["tool"] = "shoal probe";
  j["version"] = 1;
  j["group"] = p.group;
  j["iface"] = p.iface;
  j["transport"] = p.transport;
  j["ttl"] = p.ttl;
  j["loss_threshold"] = p.loss_threshold;
  j["headroom"] = p.headroom;
  j["dwell_seconds"] = p.dwell_s;
  j["rate_counts_bytes_per_frame_besides_payload"] = p.wire_overhead;
  j["seconds"] = p.seconds;
  j["receivers"] = nlohmann::json::array();
  for (const ReceiverInfo& r : p.receivers) {
    nlohmann::json o;
    o["name"] = r.name;
    o["address"] = r.address;
    o["joined"] = r.joined;
    o["heard"] = r.heard;
    o["iface"] = r.iface;
    o["iface_address"] = r.iface_ipv4 ? ipv4_text(r.iface_ipv4) : "";
    o["iface_mtu"] = r.iface_mtu;
    if (!r.failure.empty()) o["failure"] = r.failure;
    o["unicast"] = {{"verdict", r.unicast_verdict},
                    {"unicast_loss", r.unicast_loss},
                    {"multicast_loss", r.reference_loss}};
    o["mtu"] = r.mtu_verdict;
    o["hints"] = r.hints;
    j["receivers"].push_back(o);
  }
  j["steps"] = nlohmann::json::array();
  for (const StepResult& s : p.steps) {
    nlohmann::json o;
    o["step"] = s.step;
    o["kind"] = to_string(s.kind);
    if (!s.phase.empty()) o["phase"] = s.phase;
    o["target_bps"] = s.target_bps;
    o["offered_bps"] = s.offered_bps;
    o["frame_bytes"] = s.frame_bytes;
    o["frames_sent"] = s.frames_sent;
    o["seconds"] = s.seconds;
    if (s.kind == StepKind::kSearch) o["pass"] = s.pass;
    if (s.redone) o["redone"] = true;
    if (s.unicast_to >= 0) o["unicast_to"] = p.receivers[size_t(s.unicast_to)].name;
    o["receivers"] = nlohmann::json::array();
    for (size_t r = 0; r < s.receivers.size(); ++r) {
      const ReceiverStep& rs = s.receivers[r];
      if (!rs.answered) continue;
      o["receivers"].push_back(
          {{"name", p.receivers[r].name},
           {"received", rs.received},
           {"lost", StepStats::lost(s.frames_sent, rs.received)},
           {"loss", step_loss(s, r)},
           {"delivered_bps", delivered_bps(s, r)},
           {"reordered", rs.reordered},
           {"duplicated", rs.duplicated},
           {"delay_spread_us",
            rs.has_delay ? double(rs.delay_max_ns - rs.delay_min_ns) / 1e3 : 0.0},
           {"socket_drops", rs.socket_drops},
           {"rejected", rs.rejected}});
    }
    j["steps"].push_back(o);
  }
  j["result"] = {{"max_ok_bps", p.max_ok_bps},
                 {"first_bad_bps", p.first_bad_bps},
                 {"recommended_bps", p.recommended_bps},
                 {"limited_by", to_string(p.limit)},
                 {"verdict", p.verdict}};
  return j;
}

std::string to_csv(const ProbeResult& p) {
  std::ostringstream o;
  o << "step,kind,phase,target_bps,offered_bps,frame_bytes,frames_sent,seconds,receiver,received,"
       "lost,loss,delivered_bps,reordered,duplicated,delay_spread_us,socket_drops,pass,redone\n";
  for (const StepResult& s : p.steps) {
    for (size_t r = 0; r < s.receivers.size(); ++r) {
      const ReceiverStep& rs = s.receivers[r];
      if (!rs.answered) continue;
      std::string name = p.receivers[r].name;  // CSV-quote names: they come from receivers
      std::string quoted = "\"";
      for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      quoted += "\"";
      o << s.step << ',' << to_string(s.kind) << ',' << s.phase << ',' << s.target_bps << ','
        << s.offered_bps << ',' << s.frame_bytes << ',' << s.frames_sent << ',' << s.seconds << ','
        << quoted << ',' << rs.received << ',' << StepStats::lost(s.frames_sent, rs.received) << ','
        << step_loss(s, r) << ',' << uint64_t(delivered_bps(s, r)) << ',' << rs.reordered << ','
        << rs.duplicated << ','
        << (rs.has_delay ? double(rs.delay_max_ns - rs.delay_min_ns) / 1e3 : 0.0) << ','
        << rs.socket_drops << ',' << (s.kind == StepKind::kSearch ? (s.pass ? "1" : "0") : "")
        << ',' << (s.redone ? "1" : "0") << '\n';
    }
  }
  return o.str();
}

Result<SavedProbe> read_probe_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("cannot read the probe result '" + path + "'");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error("'" + path + "' is not JSON written by `shoal probe --json`");
  const auto res = j.find("result");
  if (res == j.end() || !res->is_object() || !res->contains("recommended_bps") ||
      !(*res)["recommended_bps"].is_number_unsigned())
    return make_error("'" + path +
                      "' has no result.recommended_bps: not a `shoal probe --json` file");
  SavedProbe s;
  s.recommended_bps = (*res)["recommended_bps"].get<uint64_t>();
  if (res->contains("max_ok_bps") && (*res)["max_ok_bps"].is_number_unsigned())
    s.max_ok_bps = (*res)["max_ok_bps"].get<uint64_t>();
  if (s.recommended_bps == 0)
    return make_error("the probe in '" + path +
                      "' found no rate with loss within its threshold, so it recommends none; "
                      "run `shoal probe` again or give --rate explicitly");
  if (s.max_ok_bps < s.recommended_bps) s.max_ok_bps = s.recommended_bps;
  return s;
}

}  // namespace shoal::probe
