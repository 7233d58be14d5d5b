// `shoal send --hosts FILE`: the receivers a rollout expects, one per line -- a receiver name
// (`shoal recv --name`, by default its host name), an IP address or a TLS certificate name.
// '#' starts a comment; blank lines are skipped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal::cli {

// The entries of a hosts file's text; `what` names the file in errors. An entry with inner
// whitespace, one listed twice, or a file naming no host is an error that says which line.
Result<std::vector<std::string>> parse_hosts(std::string_view text, const std::string& what);
// Reads and parses the file at `path`.
Result<std::vector<std::string>> read_hosts_file(const std::string& path);

}  // namespace shoal::cli
