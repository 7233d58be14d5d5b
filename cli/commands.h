// Subcommands of the shoal executable. Each registers its options on the app and returns the
// action to run when that subcommand was chosen (the action returns the exit status).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace shoal::cli {

struct Command {
  CLI::App* sub;
  std::function<int()> run;
};
using Action = Command;

Action add_send(CLI::App& app);
Action add_recv(CLI::App& app);
Action add_recvd(CLI::App& app);
Action add_keygen(CLI::App& app);
Action add_demo(CLI::App& app);
Action add_selfcheck(CLI::App& app);
Action add_probe(CLI::App& app);  // cmd_probe.cc
Action add_relay(CLI::App& app);  // cmd_relay.cc

}  // namespace shoal::cli
