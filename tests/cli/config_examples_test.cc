// Every configs/*.toml is loaded by the subcommand it is written for, through the real CLI, and
// names every option of that subcommand (commented out where the default is fine): a new option
// without an example entry fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "cli/config_file.h"

namespace shoal::cli {
namespace {

namespace fs = std::filesystem;

const fs::path kConfigs = fs::path(SHOAL_SOURCE_DIR) / "configs";

// Which subcommand reads which example. A new example file must be added here.
const std::map<std::string, std::string> kExampleFor = {
    {"sender.toml", "send"},
    {"receiver.toml", "recv"},
    {"recvd.toml", "recvd"},
    {"relay.toml", "relay"},
};

// The CLI as main.cc builds it (the subcommands that take --config).
struct RealCli {
  CLI::App app{"shoal"};
  std::vector<Command> commands;  // own the options' variables, as main.cc's array does
  std::map<std::string, CLI::App*> subs;
  RealCli() {
    commands = {add_send(app), add_recv(app), add_recvd(app), add_relay(app)};
    for (const Command& c : commands) {
      add_config_option(*c.sub);
      subs[c.sub->get_name()] = c.sub;
    }
  }
  std::string parse(const std::string& sub, const fs::path& file) {
    std::vector<std::string> args = {"shoal", sub, "--config", file.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::Error& e) {
      return e.what();
    }
    return {};
  }
};

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Keys written in the file, active or commented out ("# key = ...").
std::set<std::string> mentioned_keys(const std::string& text, bool active_only) {
  std::set<std::string> keys;
  const std::regex re(active_only ? R"(^([a-z][a-z0-9-]*)\s*=)" : R"(^#?\s*([a-z][a-z0-9-]*)\s*=)");
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, re)) keys.insert(m[1]);
  }
  return keys;
}

std::vector<fs::path> example_files() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kConfigs)) {
    if (e.path().extension() == ".toml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ConfigExamples, EveryExampleIsKnownAndEveryKnownExampleExists) {
  auto files = example_files();
  ASSERT_FALSE(files.empty()) << "no *.toml under " << kConfigs;
  for (const auto& f : files) {
    EXPECT_TRUE(kExampleFor.count(f.filename().string()))
        << f << " is not mapped to a subcommand in this test";
  }
  for (const auto& [name, sub] : kExampleFor) {
    EXPECT_TRUE(fs::exists(kConfigs / name)) << "missing example " << name << " for " << sub;
  }
}

TEST(ConfigExamples, EveryExampleLoadsAndItsValuesLand) {
  for (const auto& f : example_files()) {
    auto it = kExampleFor.find(f.filename().string());
    if (it == kExampleFor.end()) continue;  // reported by the test above
    SCOPED_TRACE(f.string());
    RealCli cli;
    ASSERT_EQ(cli.parse(it->second, f), "");
    CLI::App* sub = cli.subs.at(it->second);
    auto keys = config_keys(*sub);
    for (const std::string& k : mentioned_keys(read(f), true)) {
      ASSERT_TRUE(keys.count(k)) << k;
      EXPECT_GT(keys.at(k)->count(), 0u) << "key '" << k << "' was not applied";
    }
  }
}

TEST(ConfigExamples, EveryOptionOfTheSubcommandIsInItsExample) {
  RealCli cli;
  for (const auto& [file, subname] : kExampleFor) {
    if (!fs::exists(kConfigs / file)) continue;  // reported above
    SCOPED_TRACE(file);
    const auto written = mentioned_keys(read(kConfigs / file), false);
    // One entry per option, under any of its names.
    std::map<CLI::Option*, std::vector<std::string>> names;
    for (const auto& [k, opt] : config_keys(*cli.subs.at(subname))) names[opt].push_back(k);
    for (const auto& [opt, ks] : names) {
      bool found = false;
      for (const auto& k : ks) found |= written.count(k) > 0;
      EXPECT_TRUE(found) << "option " << opt->get_name() << " of `shoal " << subname
                         << "` has no entry (not even a commented one) in configs/" << file;
    }
  }
}

}  // namespace
}  // namespace shoal::cli
