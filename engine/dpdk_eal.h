// DpdkEal: the DPDK Environment Abstraction Layer, set up once per process from an argument
// string (the EAL's own command line), e.g.
//   "--no-huge -m 512 --no-pci --no-shconf --log-level=error --vdev=net_null0"
// DPDK allows rte_eal_init once per process and cannot re-initialize after rte_eal_cleanup, so
// the first successful init() is kept for the life of the process (cleaned up at exit, after the
// last DpdkPort that holds a reference is gone). Every DPDK object here holds a shared_ptr to it.
//
// Arguments are split at whitespace (no quoting: EAL and vdev arguments never need spaces).
// Quirks handled here, each with one log line:
// - "--in-memory" together with "--no-huge" is refused by DPDK 22.11 ("--legacy-mem is not
//   compatible with --in-memory": --no-huge implies legacy memory). Without hugepages the only
//   thing --in-memory adds is "no shared config files", so it is replaced by "--no-shconf".
// - rte_eal_init pins the calling thread to the main lcore's CPU. Unless the arguments choose
//   cores themselves (-l, -c, --lcores), the thread's previous CPU affinity is restored, so a
//   process that merely uses a DPDK port is not silently confined to one CPU.
//
// Threading: init() is thread-safe. Mempool caches work only on EAL threads: the thread that
// called init() is the main lcore; other threads work too (uncached, slower) -- see
// docs/benchmarks-dpdk.md.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal::engine {

class DpdkEal {
 public:
  // The first call initializes the EAL. Later calls with the same arguments return the same
  // instance; with different arguments they fail (naming both argument strings), as does any
  // call after an initialization that failed for a reason other than bad arguments (DPDK cannot
  // retry then). Errors say what to do (run as root, fix an argument, ...).
  static Result<std::shared_ptr<DpdkEal>> init(std::string_view args);

  // The instance of a successful init(), or null.
  static std::shared_ptr<DpdkEal> current();

  // Makes the calling thread an EAL thread (own lcore id, mempool caches) unless it is one
  // already. Call it on the thread that will send or receive if that is not the thread that
  // called init(). Error when all lcore ids are taken.
  static Status register_thread();

  // The argument list handed to rte_eal_init (after the rewrites above), without argv[0].
  const std::vector<std::string>& args() const { return args_; }
  unsigned main_lcore() const { return main_lcore_; }

  ~DpdkEal();  // rte_eal_cleanup
  DpdkEal(const DpdkEal&) = delete;
  DpdkEal& operator=(const DpdkEal&) = delete;

 private:
  DpdkEal() = default;
  std::vector<std::string> args_;
  unsigned main_lcore_ = 0;
};

}  // namespace shoal::engine
