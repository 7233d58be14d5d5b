#include "cli/config_file.h"

#include <arpa/inet.h>

#include <toml++/toml.h>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "common/units.h"
#include "control/endpoint.h"
#include "engine/net_iface.h"

namespace shoal::cli {

namespace {

[[noreturn]] void fail_at(const std::string& path, uint32_t line, const std::string& key,
                          const std::string& what) {
  std::string where = path;
  if (line > 0) where += ":" + std::to_string(line);
  throw CLI::ConfigError(where + ": key '" + key + "': " + what);
}

bool takes_no_value(const CLI::Option* o) {
  return o->get_expected_max() == 0;
}

// Edit distance, for "did you mean" hints on misspelt keys.
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string nearest_key(const std::map<std::string, CLI::Option*>& keys, const std::string& key) {
  std::string best;
  size_t best_d = 3;  // farther than 2 edits is no hint
  for (const auto& [k, o] : keys) {
    size_t d = distance(k, key);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

// One scalar as the text the command line would carry. nullopt for tables, arrays and dates.
std::optional<std::string> scalar_text(const toml::node& n) {
  if (auto s = n.as_string()) return s->get();
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto f = n.as_floating_point()) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, f->get());
    return std::string(buf, r.ptr);
  }
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  return std::nullopt;
}

std::string type_text(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "a list";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "a scalar";
  }
}

// What goes into the option's results for this value; empty = leave the option unset.
std::vector<std::string> results_for(const std::string& path, uint32_t line, const std::string& key,
                                     CLI::Option* opt, const toml::node& value) {
  const bool list_ok = opt->get_items_expected_max() > 1;
  if (takes_no_value(opt)) {
    auto b = value.as_boolean();
    if (!b) fail_at(path, line, key, "is a flag: write `" + key + " = true` (or false)");
    return {opt->get_flag_value(key, b->get() ? "true" : "false")};
  }
  if (auto b = value.as_boolean(); b && opt->get_expected_min() == 0) {
    // An option whose value is optional (`--announce [GROUP]`): true = given without a value.
    if (!b->get()) return {};
    return {opt->get_flag_value(key, "")};
  }
  std::vector<std::string> out;
  if (auto arr = value.as_array()) {
    if (!list_ok) {
      fail_at(path, line, key, "takes one value, not a list");
    }
    for (const toml::node& e : *arr) {
      auto t = scalar_text(e);
      if (!t)
        fail_at(path, line, key, "list items must be strings or numbers, not " + type_text(e));
      out.push_back(std::move(*t));
    }
    return out;
  }
  auto t = scalar_text(value);
  if (!t) fail_at(path, line, key, "takes a string or a number, not " + type_text(value));
  out.push_back(std::move(*t));
  return out;
}

// Runs the option's converter and validators on `results` (assigning its variable).
void convert(CLI::Option* opt, const std::vector<std::string>& results) {
  opt->clear();
  opt->add_result(results);
  opt->run_callback();
}

}  // namespace

std::map<std::string, CLI::Option*> config_keys(CLI::App& sub) {
  std::map<std::string, CLI::Option*> keys;
  for (CLI::Option* o : sub.get_options([](CLI::Option*) { return true; })) {
    if (o == sub.get_help_ptr() || o == sub.get_help_all_ptr() || o->check_lname("config"))
      continue;
    if (o->get_lnames().empty() && o->get_snames().empty()) {
      keys[o->get_name()] = o;  // a positional
      continue;
    }
    for (const std::string& n : o->get_lnames()) keys[n] = o;
  }
  return keys;
}

void apply_config_file(CLI::App& sub, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    if (src.begin.line == 0) {  // no position: the file itself could not be read
      throw CLI::ConfigError(path + ": " + std::string(e.description()));
    }
    throw CLI::ConfigError(path + ":" + std::to_string(src.begin.line) + ":" +
                           std::to_string(src.begin.column) +
                           ": not valid TOML: " + std::string(e.description()));
  }
  const auto keys = config_keys(sub);
  const std::string cmd = "shoal " + sub.get_name();
  std::map<CLI::Option*, std::string> seen;  // option -> key that set it
  for (auto&& [k, value] : table) {
    const std::string key(k.str());
    const uint32_t line = k.source().begin.line;
    auto it = keys.find(key);
    if (it == keys.end()) {
      std::string hint = nearest_key(keys, key);
      fail_at(path, line, key,
              "unknown option for `" + cmd + "`" +
                  (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                  "; keys are the long option names of `" + cmd + " --help`");
    }
    CLI::Option* opt = it->second;
    if (auto [s, fresh] = seen.emplace(opt, key); !fresh) {
      fail_at(path, line, key, "sets the same option as '" + s->second + "'");
    }
    std::vector<std::string> results = results_for(path, line, key, opt, value);
    if (results.empty()) continue;
    // Given on the command line: check the file's value, then put the command line's back.
    const bool from_cli = opt->count() > 0;
    const std::vector<std::string> cli_results = from_cli ? opt->results() : results;
    try {
      convert(opt, results);
    } catch (const CLI::Error& e) {
      std::string msg = e.what();
      const std::string prefix = opt->get_name() + ": ";
      if (msg.rfind(prefix, 0) == 0) msg.erase(0, prefix.size());
      fail_at(path, line, key, "bad value: " + msg);
    }
    if (from_cli) convert(opt, cli_results);
  }
}

void add_config_option(CLI::App& sub) {
  struct State {
    std::string path;
    std::vector<CLI::Option*> required;
  };
  auto st = std::make_shared<State>();
  for (CLI::Option* o : sub.get_options([](CLI::Option*) { return true; })) {
    if (!o->get_required()) continue;
    o->required(false);
    o->description(o->get_description() + " (required: here or in the --config file)");
    st->required.push_back(o);
  }
  sub.add_option("--config", st->path,
                 "read options from this TOML file: keys are the long option names, e.g. "
                 "rate = \"300M\"; command-line options win");
  sub.parse_complete_callback([&sub, st] {
    if (!st->path.empty()) apply_config_file(sub, st->path);
    for (CLI::Option* o : st->required) {
      if (o->count() == 0) {
        throw CLI::RequiredError(
            o->get_name() + " is required (on the command line or in a --config file)",
            CLI::ExitCodes::RequiredError);
      }
    }
  });
}

namespace checks {

namespace {
template <class F>
CLI::Validator from(F parse, std::string desc) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        auto r = parse(text);
        return r ? std::string() : r.error();
      },
      std::move(desc));
}

bool parse_port(const std::string& text, int lo, int& port) {
  int p = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), p);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || p < lo || p > 65535)
    return false;
  port = p;
  return true;
}
}  // namespace

CLI::Validator rate() {
  return from([](const std::string& t) { return parse_rate(t); }, "RATE");
}
CLI::Validator size() {
  return from([](const std::string& t) { return parse_size(t); }, "SIZE");
}
CLI::Validator size_or_auto() {
  return from(
      [](const std::string& t) { return t == "auto" ? Result<uint64_t>(0) : parse_size(t); },
      "SIZE|auto");
}
CLI::Validator duration() {
  return from([](const std::string& t) { return parse_duration_ns(t); }, "TIME");
}
CLI::Validator endpoint() {
  return from([](const std::string& t) { return control::parse_endpoint(t); }, "ADDR:PORT");
}
CLI::Validator host_port() {
  return CLI::Validator(
      [](std::string& t) -> std::string {
        auto colon = t.rfind(':');
        int port = 0;
        if (colon == std::string::npos || colon == 0 || !parse_port(t.substr(colon + 1), 1, port))
          return "'" + t + "' is not HOST:PORT (e.g. 198.18.0.1:9100)";
        return {};
      },
      "HOST:PORT");
}
CLI::Validator group_port() {
  return CLI::Validator(
      [](std::string& t) -> std::string {
        auto gp = engine::parse_group_port(t, 9000);
        return gp ? std::string() : gp.error();
      },
      "GROUP[:PORT]");
}
CLI::Validator fec_spec() {
  return CLI::Validator(
      [](std::string& t) -> std::string {
        unsigned k = 0, m = 0;
        char extra = 0;
        if (std::sscanf(t.c_str(), "%u+%u%c", &k, &m, &extra) != 2 || k == 0 || k + m > 255)
          return "'" + t + "' is not K+M with K >= 1 and K+M <= 255 (e.g. 64+4)";
        return {};
      },
      "K+M");
}

}  // namespace checks

}  // namespace shoal::cli
