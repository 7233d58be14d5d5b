// shoal: reliable multicast delivery of one object to many receivers.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "shoal_version.h"

int main(int argc, char** argv) {
  CLI::App app{"shoal " SHOAL_VERSION " - reliable multicast delivery of large objects"};
  app.set_version_flag("--version", "shoal " SHOAL_VERSION);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
