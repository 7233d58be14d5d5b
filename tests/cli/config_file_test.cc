// The TOML config loader against a small CLI11 app built here, so every expectation follows from
// the options declared in this file.
#include "cli/config_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace shoal::cli {
namespace {

// A temporary TOML file, removed at the end of the test.
class TempToml {
 public:
  explicit TempToml(const std::string& text) {
    char name[] = "/tmp/shoal-config-test-XXXXXX";
    int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = name;
    std::ofstream(path_) << text;
  }
  ~TempToml() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Values {
  std::string object, rate = "400M", announce;
  int ttl = 1;
  bool insecure = false, progress = true, resume = true;
  std::vector<std::string> maps;
};

// The shapes of option the real subcommands use: positional, value with validator, range-checked
// integer, plain flag, flag pair, negated flag, list, optional value.
struct TestCli {
  CLI::App app{"test"};
  CLI::App* sub = nullptr;
  Values v;
  TestCli() {
    sub = app.add_subcommand("send");
    sub->add_option("object", v.object)->required();
    sub->add_option("-r,--rate", v.rate)->check(checks::rate());
    sub->add_option("--ttl", v.ttl)->check(CLI::Range(0, 255));
    sub->add_flag("--insecure", v.insecure);
    sub->add_flag("--progress,!--no-progress", v.progress);
    sub->add_flag("!--no-resume", v.resume);
    sub->add_option("--map", v.maps);
    sub->add_option("--announce", v.announce)->expected(0, 1)->default_str("239.255.0.2:9001");
    add_config_option(*sub);
  }
  // Parses "send ARGS..."; returns the error text, empty on success.
  std::string parse(std::vector<std::string> args) {
    args.insert(args.begin(), {"test", "send"});
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

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ConfigFile, KeysAreLongNamesAndPositionalsButNotHelpOrConfig) {
  TestCli c;
  auto keys = config_keys(*c.sub);
  for (const char* k : {"object", "rate", "ttl", "insecure", "progress", "no-progress", "no-resume",
                        "map", "announce"}) {
    EXPECT_TRUE(keys.count(k)) << k;
  }
  EXPECT_FALSE(keys.count("help"));
  EXPECT_FALSE(keys.count("config"));
  EXPECT_FALSE(keys.count("r"));  // short names are not keys
  EXPECT_EQ(keys.size(), 9u);
  EXPECT_EQ(keys.at("progress"), keys.at("no-progress"));
}

TEST(ConfigFile, EveryKindOfValueIsApplied) {
  TempToml f(
      "object = \"/srv/image.raw\"\nrate = \"300M\"\nttl = 4\ninsecure = true\n"
      "no-progress = true\nno-resume = true\nmap = [\"a*=/x/\", \"b=/dev/vdb\"]\nannounce = "
      "true\n");
  TestCli c;
  ASSERT_EQ(c.parse({"--config", f.path()}), "");
  EXPECT_EQ(c.v.object, "/srv/image.raw");
  EXPECT_EQ(c.v.rate, "300M");
  EXPECT_EQ(c.v.ttl, 4);
  EXPECT_TRUE(c.v.insecure);
  EXPECT_FALSE(c.v.progress);
  EXPECT_FALSE(c.v.resume);
  EXPECT_EQ(c.v.maps, (std::vector<std::string>{"a*=/x/", "b=/dev/vdb"}));
  EXPECT_EQ(c.v.announce, "239.255.0.2:9001");  // true = given without a value
}

TEST(ConfigFile, FalseFlagsKeepTheirMeaning) {
  TempToml f("object = \"o\"\nprogress = false\nno-resume = false\ninsecure = false\n");
  TestCli c;
  c.v.progress = true;
  ASSERT_EQ(c.parse({"--config", f.path()}), "");
  EXPECT_FALSE(c.v.progress);
  EXPECT_TRUE(c.v.resume);  // no-resume = false: resume stays on
  EXPECT_FALSE(c.v.insecure);
}

TEST(ConfigFile, CommandLineWinsOverTheFile) {
  TempToml f(
      "object = \"file-object\"\nrate = \"300M\"\nttl = 4\nprogress = true\n"
      "map = [\"a=/a\", \"b=/b\"]\n");
  TestCli c;
  ASSERT_EQ(c.parse({"cli-object", "--rate", "1G", "--config", f.path(), "--ttl", "9",
                     "--no-progress", "--map", "c=/c"}),
            "");
  EXPECT_EQ(c.v.object, "cli-object");
  EXPECT_EQ(c.v.rate, "1G");
  EXPECT_EQ(c.v.ttl, 9);
  EXPECT_FALSE(c.v.progress);
  EXPECT_EQ(c.v.maps, std::vector<std::string>{"c=/c"});  // the command line's list replaces
}

TEST(ConfigFile, UnknownKeyNamesFileLineKeyAndAHint) {
  TempToml f("object = \"o\"\n\nrte = \"300M\"\n");
  TestCli c;
  std::string err = c.parse({"--config", f.path()});
  EXPECT_TRUE(contains(err, f.path() + ":3:")) << err;
  EXPECT_TRUE(contains(err, "'rte'")) << err;
  EXPECT_TRUE(contains(err, "did you mean 'rate'")) << err;
}

TEST(ConfigFile, BadValuesNameFileLineAndKey) {
  struct Case {
    std::string toml, key;
  } cases[] = {
      {"ttl = 300", "ttl"},                 // the option's range check
      {"ttl = \"many\"", "ttl"},            // the option's conversion
      {"rate = \"fast\"", "rate"},          // a shoal validator
      {"insecure = \"yes\"", "insecure"},   // a flag needs true/false
      {"rate = [\"1G\", \"2G\"]", "rate"},  // one value, not a list
      {"rate = { a = 1 }", "rate"},         // tables are not values
      {"map = [[\"a\"]]", "map"},           // lists hold scalars
      {"ttl = 1979-05-27", "ttl"},          // dates are not values
  };
  for (const auto& cs : cases) {
    TempToml f("# a comment\nobject = \"o\"\n" + cs.toml + "\n");
    TestCli c;
    std::string err = c.parse({"--config", f.path()});
    EXPECT_TRUE(contains(err, f.path() + ":3: key '" + cs.key + "'")) << cs.toml << " -> " << err;
  }
}

TEST(ConfigFile, BadFileValueIsReportedEvenWhenTheCommandLineOverridesIt) {
  TempToml f("object = \"o\"\nttl = 300\n");
  TestCli c;
  std::string err = c.parse({"--ttl", "5", "--config", f.path()});
  EXPECT_TRUE(contains(err, f.path() + ":2: key 'ttl'")) << err;
}

TEST(ConfigFile, TwoNamesOfOneOptionAreRefused) {
  TempToml f("object = \"o\"\nprogress = true\nno-progress = true\n");
  TestCli c;
  std::string err = c.parse({"--config", f.path()});
  EXPECT_TRUE(contains(err, f.path() + ":")) << err;
  EXPECT_TRUE(contains(err, "same option")) << err;
}

TEST(ConfigFile, SyntaxErrorsNameFileAndLine) {
  TempToml f("object = \"o\"\nrate = \"300M\n");
  TestCli c;
  std::string err = c.parse({"--config", f.path()});
  EXPECT_TRUE(contains(err, f.path() + ":2:")) << err;
  EXPECT_TRUE(contains(err, "not valid TOML")) << err;
}

TEST(ConfigFile, MissingFileIsNamed) {
  TestCli c;
  std::string err = c.parse({"o", "--config", "/nonexistent/shoal.toml"});
  EXPECT_TRUE(contains(err, "/nonexistent/shoal.toml")) << err;
}

TEST(ConfigFile, RequiredOptionsMayComeFromTheFileButNotFromNowhere) {
  TempToml f("rate = \"300M\"\n");
  TestCli without;
  std::string err = without.parse({"--config", f.path()});
  EXPECT_TRUE(contains(err, "object is required")) << err;
  TestCli none;
  EXPECT_TRUE(contains(none.parse({}), "object is required"));
  TestCli cli;
  EXPECT_EQ(cli.parse({"o"}), "");
}

TEST(ConfigFile, ConfigIsNotAKey) {
  TempToml f("object = \"o\"\nconfig = \"/etc/other.toml\"\n");
  TestCli c;
  std::string err = c.parse({"--config", f.path()});
  EXPECT_TRUE(contains(err, f.path() + ":2: key 'config'")) << err;
}

TEST(ConfigChecks, AcceptWhatTheCommandsParseAndRefuseTheRest) {
  auto ok = [](CLI::Validator v, std::string text) { return v(text).empty(); };
  EXPECT_TRUE(ok(checks::rate(), "400M"));
  EXPECT_FALSE(ok(checks::rate(), "fast"));
  EXPECT_TRUE(ok(checks::size(), "64K"));
  EXPECT_FALSE(ok(checks::size(), "64Q"));
  EXPECT_TRUE(ok(checks::size_or_auto(), "auto"));
  EXPECT_TRUE(ok(checks::size_or_auto(), "1M"));
  EXPECT_FALSE(ok(checks::size_or_auto(), "automatic"));
  EXPECT_TRUE(ok(checks::duration(), "500ms"));
  EXPECT_FALSE(ok(checks::duration(), "soon"));
  EXPECT_TRUE(ok(checks::endpoint(), "0.0.0.0:9100"));
  EXPECT_FALSE(ok(checks::endpoint(), "host:9100"));
  EXPECT_TRUE(ok(checks::host_port(), "sender.example:9100"));
  EXPECT_FALSE(ok(checks::host_port(), "sender.example"));
  EXPECT_FALSE(ok(checks::host_port(), "sender.example:0"));
  EXPECT_FALSE(ok(checks::host_port(), ":9100"));
  EXPECT_TRUE(ok(checks::group_port(), "239.1.1.1:9000"));
  EXPECT_TRUE(ok(checks::group_port(), "239.1.1.1"));
  EXPECT_FALSE(ok(checks::group_port(), "239.1.1:9000"));
  EXPECT_FALSE(ok(checks::group_port(), "239.1.1.1:70000"));
  EXPECT_TRUE(ok(checks::fec_spec(), "64+4"));
  EXPECT_FALSE(ok(checks::fec_spec(), "0+4"));
  EXPECT_FALSE(ok(checks::fec_spec(), "250+10"));
  EXPECT_FALSE(ok(checks::fec_spec(), "64"));
}

}  // namespace
}  // namespace shoal::cli
