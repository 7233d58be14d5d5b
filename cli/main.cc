// shoal: reliable multicast delivery of one object to many receivers.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "shoal_version.h"

int main(int argc, char** argv) {
  // Logs go to stderr so stdout stays clean for summaries and JSON.
  spdlog::set_default_logger(spdlog::stderr_color_mt("shoal"));
  // Dated: a rollout's logs outlive the day they were written.
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");

  CLI::App app{"shoal " SHOAL_VERSION
               " - send one object (a file, disk image or block device) to many machines at once\n"
               "by IP multicast, paced, FEC-protected, repaired and verified."};
#ifdef SHOAL_HAVE_DPDK
  app.set_version_flag("--version", "shoal " SHOAL_VERSION " (DPDK transport: yes)");
#else
  app.set_version_flag("--version", "shoal " SHOAL_VERSION " (DPDK transport: no)");
#endif
  app.require_subcommand(1);
  bool verbose = false, quiet = false, syslog = false;
  std::string log_file;
  app.add_flag("-v,--verbose", verbose, "more log output");
  app.add_flag("-q,--quiet", quiet, "only warnings and errors");
  app.add_option("--log", log_file, "also append the log to FILE");
  app.add_flag("--syslog", syslog, "also send the log to syslog (ident shoal, facility daemon)");

  const shoal::cli::Command commands[] = {
      shoal::cli::add_send(app),  shoal::cli::add_recv(app),  shoal::cli::add_keygen(app),
      shoal::cli::add_recvd(app), shoal::cli::add_demo(app),  shoal::cli::add_selfcheck(app),
      shoal::cli::add_probe(app), shoal::cli::add_relay(app),
  };

  // --config FILE on the subcommands with many options (cli/config_file.h); -v, -q and --log
  // after the subcommand too (`shoal send -v ...`), as people type them.
  for (const auto& c : commands) {
    c.sub->add_flag("-v,--verbose", verbose, "more log output");
    c.sub->add_flag("-q,--quiet", quiet, "only warnings and errors");
    c.sub->add_option("--log", log_file, "also append the log to FILE");
    c.sub->add_flag("--syslog", syslog,
                    "also send the log to syslog (ident shoal, facility daemon)");
    const std::string& n = c.sub->get_name();
    if (n == "send" || n == "recv" || n == "recvd" || n == "relay")
      shoal::cli::add_config_option(*c.sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every mistake on the command line is a usage error: 2, the
    // code every subcommand returns for bad input (CLI11's own codes would be 100 and up).
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!log_file.empty()) {
    try {
      auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
      sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
      spdlog::default_logger()->sinks().push_back(std::move(sink));
    } catch (const spdlog::spdlog_ex& e) {
      std::fprintf(stderr, "--log: cannot open '%s' for appending: %s\n", log_file.c_str(),
                   e.what());
      return 2;
    }
  }
  if (syslog) {
    // The message alone: syslog adds the time, host, ident, pid and the level as priority.
    spdlog::default_logger()->sinks().push_back(
        std::make_shared<spdlog::sinks::syslog_sink_mt>("shoal", LOG_PID, LOG_DAEMON, false));
  }
  spdlog::set_level(verbose ? spdlog::level::debug
                    : quiet ? spdlog::level::warn
                            : spdlog::level::info);
  for (const auto& c : commands) {
    if (c.sub->parsed()) return c.run();
  }
  return 2;
}
