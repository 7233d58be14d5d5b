#include <memory>

#include "cli/commands.h"
#include "cli/send_options.h"
#include "session/sender.h"

namespace shoal::cli {

Action add_send(CLI::App& app) {
  auto a = std::make_shared<SendArgs>();
  auto* sub = app.add_subcommand("send",
                                 "send one file, block device or directory tree to every receiver "
                                 "that joins");
  add_send_options(sub, *a, SendRole::kSender);
  return {sub, [a] {
            session::SendOptions o;
            if (!take_send_options(*a, o)) return 2;
            return send_exit_status(session::run_sender(o));
          }};
}

}  // namespace shoal::cli
