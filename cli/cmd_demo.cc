// demo: a real delivery on a throwaway test bed -- one sender and N receivers in network
// namespaces on a bridge (or, without root, on this host's loopback multicast) -- verified end
// to end and torn down afterwards, Ctrl-C included.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/event_log.h"
#include "common/units.h"
#include "control/auth.h"
#include "object/manifest.h"
#include "object/object_source.h"

namespace shoal::cli {

namespace {

namespace fs = std::filesystem;

std::string self_exe() {
  return fs::read_symlink("/proc/self/exe").string();
}

std::string find_testbed() {
  if (const char* env = std::getenv("SHOAL_TESTBED")) return env;
  fs::path exe = self_exe();
  for (fs::path p : {exe.parent_path().parent_path().parent_path() / "scripts/testbed.sh",
                     exe.parent_path().parent_path() / "share/shoal/testbed.sh",
                     fs::path(SHOAL_SOURCE_DIR) / "scripts/testbed.sh"}) {
    if (fs::exists(p)) return p.string();
  }
  return {};
}

int run_quiet(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& stdout_path) {
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!stdout_path.empty()) {
      int fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// A generated image: random data with zero and repeated stretches, like a real disk image.
bool make_image(const std::string& path, uint64_t size) {
  std::ofstream f(path, std::ios::binary);
  std::mt19937_64 rng(20261122);
  std::vector<uint64_t> buf(1 << 17);  // 1 MiB
  uint64_t left = size;
  for (uint64_t mib = 0; left > 0; ++mib) {
    if (mib % 16 == 5)
      std::fill(buf.begin(), buf.end(), 0);
    else
      for (auto& w : buf) w = rng();
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, buf.size() * 8));
    f.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(n));
    left -= n;
  }
  return bool(f);
}

}  // namespace

Action add_demo(CLI::App& app) {
  struct Args {
    unsigned receivers = 4;
    std::string size = "256M", rate = "1G";
    unsigned loss_permille = 0;
    bool loopback = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub =
      app.add_subcommand("demo",
                         "deliver a generated image to N receivers on a throwaway namespace "
                         "test bed (root), verify every copy, tear down");
  sub->add_option("--receivers", a->receivers, "receivers")
      ->capture_default_str()
      ->check(CLI::Range(1u, 9u));
  sub->add_option("--size", a->size, "image size")->capture_default_str();
  sub->add_option("--rate", a->rate, "multicast rate")->capture_default_str();
  sub->add_option("--loss", a->loss_permille, "random loss toward every receiver, per mille")
      ->capture_default_str()
      ->check(CLI::Range(0u, 500u));
  sub->add_flag("--loopback", a->loopback,
                "use this host's loopback multicast instead of namespaces");
  return {
      sub, [a] {
        auto size = parse_size(a->size);
        if (!size) {
          spdlog::error("--size: {}", size.error());
          return 2;
        }
        bool netns = !a->loopback && geteuid() == 0 && run_quiet({"ip", "netns", "list"}) == 0;
        std::string testbed = find_testbed();
        if (netns && testbed.empty()) {
          spdlog::warn(
              "scripts/testbed.sh not found (set SHOAL_TESTBED): using loopback multicast");
          netns = false;
        }
        if (!netns && !a->loopback) {
          spdlog::warn(
              "not root or no `ip netns`: running on this host's loopback multicast instead of a "
              "namespace test bed");
        }
        // Signals are handled here, between steps, so teardown always runs.
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGCHLD);
        sigprocmask(SIG_BLOCK, &sigs, nullptr);

        char tmpl[] = "/tmp/shoal-demo.XXXXXX";
        if (mkdtemp(tmpl) == nullptr) {
          spdlog::error("cannot create a temporary directory in /tmp");
          return 1;
        }
        fs::path dir = tmpl;
        std::string prefix = "shd" + std::to_string(getpid() % 100000);
        std::string exe = self_exe();
        std::string image = (dir / "image.raw").string();
        std::string key = (dir / "shoal.key").string();
        std::ofstream(key) << control::generate_key_text();
        fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);

        int status = 1;
        std::vector<pid_t> children;
        auto teardown = [&] {
          for (pid_t p : children) kill(p, SIGTERM);
          for (pid_t p : children) waitpid(p, nullptr, 0);
          children.clear();
          if (netns) run_quiet({testbed, "down", prefix});
          std::error_code ec;
          fs::remove_all(dir, ec);
        };

        std::printf("shoal demo: generating a %s image...\n", format_bytes(double(*size)).c_str());
        std::fflush(stdout);
        if (!make_image(image, *size)) {
          spdlog::error("cannot write the image to {}", image);
          teardown();
          return 1;
        }
        std::string sender_ip = "127.0.0.1", iface;
        if (netns) {
          std::printf(
              "shoal demo: test bed '%s': 1 sender + %u receivers on a bridge (IGMP snooping, "
              "querier)\n",
              prefix.c_str(), a->receivers);
          std::fflush(stdout);  // before the children write to the same terminal
          if (run_quiet({testbed, "up", prefix, std::to_string(a->receivers)}) != 0) {
            spdlog::error("test bed set-up failed; run `{} up {} {}` to see why", testbed, prefix,
                          a->receivers);
            teardown();
            return 1;
          }
          if (a->loss_permille > 0)
            run_quiet({testbed, "loss", prefix, "all", std::to_string(a->loss_permille)});
          sender_ip = "198.18.0.1";
          iface = "v0";
        }
        auto in_node = [&](const std::string& node, std::vector<std::string> cmd) {
          if (!netns) return cmd;
          std::vector<std::string> v = {"ip", "netns", "exec", prefix + "-" + node};
          v.insert(v.end(), cmd.begin(), cmd.end());
          return v;
        };
        for (unsigned r = 1; r <= a->receivers; ++r) {
          std::vector<std::string> cmd = {exe,
                                          "recv",
                                          "--sender",
                                          sender_ip + ":9100",
                                          "--key-file",
                                          key,
                                          "--out",
                                          (dir / ("copy" + std::to_string(r) + ".raw")).string(),
                                          "--name",
                                          "rx" + std::to_string(r),
                                          "--no-progress"};
          if (!iface.empty()) cmd.insert(cmd.end(), {"--iface", iface});
          children.push_back(spawn(in_node("rx" + std::to_string(r), cmd),
                                   (dir / ("rx" + std::to_string(r) + ".log")).string()));
        }
        std::vector<std::string> scmd = {exe,
                                         "send",
                                         image,
                                         "--group",
                                         "239.255.0.1:9000",
                                         "--listen",
                                         sender_ip + ":9100",
                                         "--rate",
                                         a->rate,
                                         "--min-receivers",
                                         std::to_string(a->receivers),
                                         "--max-wait",
                                         "30s",
                                         "--key-file",
                                         key,
                                         "--name",
                                         "demo-image"};
        if (!iface.empty())
          scmd.insert(scmd.end(), {"--iface", iface});
        else
          scmd.insert(scmd.end(), {"--ttl", "0", "--loopback"});
        pid_t sender = spawn(in_node("tx", scmd), "");
        children.push_back(sender);

        // Wait for the sender (it waits for the receivers), or a signal.
        int sender_status = -1;
        for (;;) {
          siginfo_t si;
          timespec ts{1, 0};
          int sig = sigtimedwait(&sigs, &si, &ts);
          if (sig == SIGINT || sig == SIGTERM) {
            std::printf("\nshoal demo: interrupted, tearing down\n");
            teardown();
            return 130;
          }
          int st = 0;
          if (waitpid(sender, &st, WNOHANG) == sender) {
            sender_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
            break;
          }
        }
        children.erase(std::find(children.begin(), children.end(), sender));
        // Receivers finish right after the sender; give them a moment, then collect.
        for (pid_t p : children) {
          int st = 0;
          for (int i = 0; i < 100 && waitpid(p, &st, WNOHANG) == 0; ++i) usleep(100'000);
        }
        for (pid_t p : children) kill(p, SIGTERM);
        for (pid_t p : children) waitpid(p, nullptr, WNOHANG);
        children.clear();

        // Verify every copy independently of what the receivers said.
        auto src = object::ObjectSource::open(image);
        object::Digest want = object::sha256(src->bytes());
        unsigned good = 0;
        for (unsigned r = 1; r <= a->receivers; ++r) {
          fs::path copy = dir / ("copy" + std::to_string(r) + ".raw");
          bool ok = false;
          if (fs::exists(copy)) {
            auto c = object::ObjectSource::open(copy.string());
            ok = c && object::sha256(c->bytes()) == want;
          }
          good += ok;
          std::printf("  rx%u: %s\n", r,
                      ok ? "copy verified (SHA-256 matches the source)" : "NO VALID COPY");
          if (!ok) {
            std::ifstream log(dir / ("rx" + std::to_string(r) + ".log"));
            std::string line;
            while (std::getline(log, line)) std::printf("      %s\n", line.c_str());
          }
        }
        std::printf("shoal demo: %u of %u copies verified, sha256 %s, sender exit status %d\n",
                    good, a->receivers, to_hex(want).c_str(), sender_status);
        status = (good == a->receivers && sender_status == 0) ? 0 : 1;
        teardown();
        return status;
      }};
}

}  // namespace shoal::cli
