// `--config FILE`: a subcommand's options read from a TOML file.
//
// Keys are the subcommand's long option names without the dashes (`rate = "300M"`,
// `key-file = "/etc/shoal/key"`, `no-resume = true`), and a positional argument by its name
// (`object = "/srv/image.raw"`). The keys are derived from the CLI11 option list, so every option,
// including ones added later, is configurable without touching this file. Values:
//   string, integer, float   the text the command line would take ("300M", 1, 0.5)
//   true / false             for flags (`insecure = true`, `no-resume = false`); for an option
//                            whose value is optional, true = given without a value
//   array of scalars         for options that take several values (`map = ["a=b", "c=d"]`)
// A value given on the command line wins over the file's (for lists too: the command line's list
// replaces the file's). Every value in the file is still converted and validated, so a mistake in
// the file is reported even while the command line overrides it.
//
// Errors name the file, the line and the key ("/etc/shoal/recvd.toml:7: key 'ttl': ..."): TOML
// syntax errors, unknown keys (with the nearest known key as a hint), tables, dates, lists for
// single-value options, and values the option's converter or validators refuse. They are thrown as
// CLI::ConfigError from inside the parse, so CLI11_PARSE prints them like any command-line error.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

namespace shoal::cli {

// Adds `--config FILE` to `sub` and installs its parse-complete callback (so `sub` must not have
// one). Call after every option of `sub` was added. Options marked required stay required but may
// come from the file: they are checked once the file was applied (their help text says so).
void add_config_option(CLI::App& sub);

// The keys a config file for `sub` accepts, each with its option: every long name of every option
// and the name of every positional; never --help or --config.
std::map<std::string, CLI::Option*> config_keys(CLI::App& sub);

// Applies the TOML file at `path` to `sub` as described above. Throws CLI::ConfigError.
void apply_config_file(CLI::App& sub, const std::string& path);

// Validators for options whose text is converted only when the command runs, so that a bad value
// fails at parse time, and with its file and line when it came from a config file.
namespace checks {
CLI::Validator rate();          // "400M", "1.5G" (common/units.h parse_rate)
CLI::Validator size();          // "64K", "1G" (parse_size)
CLI::Validator size_or_auto();  // "auto" or a size
CLI::Validator duration();      // "30s", "500ms", "2m" (parse_duration_ns)
CLI::Validator endpoint();      // "198.18.0.1:9100": an IPv4 address and a port (0 allowed)
CLI::Validator host_port();     // "HOST:PORT": any host text (resolved later), port 1..65535
CLI::Validator group_port();    // "239.1.1.1:9000" or "239.1.1.1": an IPv4 address, port 1..65535
CLI::Validator fec_spec();      // "K+M" with K >= 1 and K + M <= 255
}  // namespace checks

}  // namespace shoal::cli
