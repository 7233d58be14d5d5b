#include <cstdio>

#include "cli/commands.h"
#include "control/auth.h"

namespace shoal::cli {

Action add_keygen(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "keygen",
      "print a new random pre-shared key (64 hex digits); store it with mode 0600:\n"
      "  (umask 077; shoal keygen > shoal.key)");
  return {sub, [] {
            std::fputs(control::generate_key_text().c_str(), stdout);
            return 0;
          }};
}

}  // namespace shoal::cli
