#include "cli/hosts_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace shoal::cli {

namespace {

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

Result<std::vector<std::string>> parse_hosts(std::string_view text, const std::string& what) {
  std::vector<std::string> hosts;
  std::set<std::string, std::less<>> seen;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const std::string at = what + " line " + std::to_string(line_no);
    if (line.find_first_of(" \t") != std::string_view::npos) {
      return make_error(at + ": '" + std::string(line) +
                        "' is not one host (one name, address or certificate name per line)");
    }
    if (!seen.insert(std::string(line)).second) {
      return make_error(at + ": " + std::string(line) + " is listed twice");
    }
    hosts.emplace_back(line);
  }
  if (hosts.empty()) {
    return make_error(what + " names no host (one receiver name, address or certificate name " +
                      "per line)");
  }
  return hosts;
}

Result<std::vector<std::string>> read_hosts_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return make_error("cannot read the hosts file '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_hosts(text.str(), "hosts file '" + path + "'");
}

}  // namespace shoal::cli
