#include "engine/dpdk_eal.h"

#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <sstream>

namespace shoal::engine {
namespace {

struct Registry {
  std::mutex mu;
  std::shared_ptr<DpdkEal> eal;
  std::string failure;  // why the last init failed in a way DPDK cannot retry
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

bool has(const std::vector<std::string>& args, std::string_view opt) {
  return std::find(args.begin(), args.end(), opt) != args.end();
}

// -l LIST, -lLIST, -c MASK, -cMASK, --lcores=MAP: the user placed the lcores on purpose.
bool chooses_cores(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    const bool short_opt = a.size() >= 2 && a[0] == '-' && (a[1] == 'l' || a[1] == 'c');
    if (short_opt || a.rfind("--lcores", 0) == 0) return true;
  }
  return false;
}

std::string init_error(int err, const std::string& args) {
  std::string why = "DPDK EAL initialization with '" + args + "' failed: " + rte_strerror(err) +
                    " (rte_errno " + std::to_string(err) + ")";
  switch (err) {
    case EACCES:
      return why +
             ". It needs root (or CAP_SYS_ADMIN, CAP_IPC_LOCK and access to /dev/hugepages"
             " and /var/run/dpdk); without hugepages pass --no-huge";
    case EINVAL:
      return why + ". An argument is wrong; the EAL printed its usage on stdout";
    case ENOMEM:
      return why + ". Not enough memory: lower -m, or reserve hugepages";
    case EALREADY:
      return why + ". Other code in this process already initialized the EAL";
    default:
      return why;
  }
}

}  // namespace

Result<std::shared_ptr<DpdkEal>> DpdkEal::init(std::string_view text) {
  std::vector<std::string> args;
  std::istringstream in{std::string(text)};
  for (std::string a; in >> a;) args.push_back(a);
  if (has(args, "--no-huge") && has(args, "--in-memory")) {
    args.erase(std::find(args.begin(), args.end(), "--in-memory"));
    if (!has(args, "--no-shconf")) args.emplace_back("--no-shconf");
    spdlog::info(
        "dpdk: '--in-memory' conflicts with '--no-huge' in DPDK 22.11; using '--no-shconf', "
        "which is what it means without hugepages");
  }

  Registry& reg = registry();
  std::lock_guard lock(reg.mu);
  if (reg.eal) {
    if (reg.eal->args_ == args) return reg.eal;
    return make_error("the DPDK EAL is already set up in this process with '" +
                      join(reg.eal->args_) + "' and can be set up only once per process; '" +
                      join(args) + "' cannot take effect (use one EAL argument string)");
  }
  if (!reg.failure.empty())
    return make_error(reg.failure + " (DPDK cannot retry EAL initialization in this process)");

  cpu_set_t before;
  CPU_ZERO(&before);
  const bool have_affinity = pthread_getaffinity_np(pthread_self(), sizeof before, &before) == 0;

  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.emplace_back("shoal");
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());  // rte_eal_init may permute argv
  argv.push_back(nullptr);
  const int r = rte_eal_init(static_cast<int>(storage.size()), argv.data());
  if (r < 0) {
    const int err = rte_errno;
    std::string msg = init_error(err, join(args));
    // DPDK resets its run-once guard only when argument parsing failed.
    if (err != EINVAL) reg.failure = msg;
    return make_error(msg);
  }

  if (have_affinity && !chooses_cores(args)) {
    if (pthread_setaffinity_np(pthread_self(), sizeof before, &before) != 0)
      spdlog::warn("dpdk: could not restore the CPU affinity the EAL changed: {}",
                   std::strerror(errno));
  }

  std::shared_ptr<DpdkEal> eal(new DpdkEal());
  eal->args_ = std::move(args);
  eal->main_lcore_ = rte_get_main_lcore();
  reg.eal = eal;
  spdlog::debug("dpdk: EAL up with '{}', {} lcores", join(eal->args_), rte_lcore_count());
  return eal;
}

std::shared_ptr<DpdkEal> DpdkEal::current() {
  Registry& reg = registry();
  std::lock_guard lock(reg.mu);
  return reg.eal;
}

Status DpdkEal::register_thread() {
  if (rte_lcore_id() != LCORE_ID_ANY) return Status::success();
  if (rte_thread_register() != 0)
    return make_error(std::string("cannot register this thread with the DPDK EAL: ") +
                      rte_strerror(rte_errno) + " (all RTE_MAX_LCORE lcore ids in use?)");
  return Status::success();
}

DpdkEal::~DpdkEal() {
  rte_eal_cleanup();
}

}  // namespace shoal::engine
