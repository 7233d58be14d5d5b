// The options of a sending side, shared by `shoal send` and the downstream side of `shoal relay`
// (which takes the object, and so the options that choose or prepare it, from its upstream).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/admission_options.h"
#include "session/sender.h"

namespace shoal::cli {

enum class SendRole { kSender, kRelay };

struct SendArgs {
  session::SendOptions o;
  std::string group = "239.255.0.1:9000", rate = "400M", burst = "auto", max_wait = "30s",
              fec = "64+0", key_file, scope = "auto", slow = "unicast";
  std::string events, hosts_file, until, pipe_size, spool_max = "1G";
  AdmissionArgs admission;
  CLI::Option* symbol_size = nullptr;
  CLI::Option* fec_option = nullptr;
};

// Registers the options on `sub`; with kRelay, not those that choose or prepare the object.
void add_send_options(CLI::App* sub, SendArgs& a, SendRole role);
// The options as parsed, checked and resolved into `o`; false after saying why (exit 2).
bool take_send_options(SendArgs& a, session::SendOptions& o);
// Exit status (docs/usage.md, "Exit status"): 0 every receiver verified the object, 2 bad input,
// 128 + the signal when SIGINT/SIGTERM aborted the session, 1 otherwise.
int send_exit_status(const session::SendResult& r);

}  // namespace shoal::cli
