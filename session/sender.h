// The sender's driver: admits receivers over the control plane, multicasts the object in paced,
// FEC-protected passes, repairs what receivers still lack, and reports every receiver's outcome.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/event_log.h"
#include "control/admission.h"
#include "control/auth.h"
#include "control/tls.h"
#include "engine/transport_select.h"
#include "object/pipe_source.h"
#include "session/sender_core.h"

namespace shoal::session {

// send - --size: the least --spool-max (the blocks in flight and their repair must fit).
inline constexpr uint64_t kMinSpoolBytes = uint64_t{64} << 20;

struct SendOptions {
  std::string path;      // file, block device or directory tree to send
  std::string compress;  // "" or "zstd[:LEVEL]": send chunked zstd (object/object_format.h)
  std::string spool;     // where a packed tree / compressed object is built ("" = $TMPDIR)
  // send - --size: stdin's length; it is then read while the session runs, into a spool of at
  // most spool_max bytes (object/pipe_source.h). 0: stdin is spooled whole before the session.
  uint64_t pipe_size = 0;
  uint64_t spool_max = uint64_t{1} << 30;
  int pipe_fd = 0;                 // what `-` reads: stdin, or a relay's upstream
  uint8_t pipe_format = 0;         // a relay's upstream object format (packed as is)
  object::PipeNaming pipe_naming;  // how errors name it
  std::string object_name;         // shown to receivers ("" = file name)
  std::string group = "239.255.0.1";
  uint16_t port = 9000;
  std::string iface;                    // "" = the interface that routes to the group
  std::string listen = "0.0.0.0:9100";  // control-plane TCP address
  uint64_t rate_bps = 400'000'000;      // IP-level multicast rate
  std::string rate_auto;     // "auto[:PROBE.json]" or "max[:CEILING]": rate_bps set by a controller
  uint64_t burst_bytes = 0;  // pacer burst, 0 = automatic (engine::default_burst_bytes)
  uint32_t min_receivers = 1;
  uint64_t max_wait_ns = 30'000'000'000;
  uint64_t until_ns = 0;  // --until: joinable this long after the start (0 = no)
  std::optional<control::Key> key;
  bool insecure = false;
  control::TlsFiles tls;      // TLS 1.3 on control connections (mutual certificates)
  bool frame_auth = true;     // tag every data frame (AES-GCM under a per-session key)
  bool encrypt = false;       // also encrypt the payload (--encrypt)
  bool scope_strict = false;  // refuse receivers multicast does not reach, instead of unicast
  // Receivers that offer (recv --serve-peers) serve unicast lane passes to stragglers
  // (--no-peer-repair: never). Off with --encrypt: a peer sends symbols in the clear.
  bool peer_repair = true;
  control::AdmissionOptions admission;  // --allow, --handshake-timeout, --max-receivers
  unsigned k = 64;                      // source symbols per block
  unsigned proactive = 0;               // repair rows sent with the first pass
  uint32_t symbol_size = 1408;
  bool symbol_size_given = false;  // else a smaller one is chosen when 1408 exceeds the MTU
  int ttl = 1;
  bool loopback = false;  // IP_MULTICAST_LOOP (receivers on the sender's host)
  unsigned max_passes = 100;
  uint32_t window_blocks = 32;                      // interleaving window
  uint64_t unicast_budget_symbols = 256;            // per receiver per repair step
  SlowPolicy slow_receiver = SlowPolicy::kUnicast;  // --slow-receiver (sender_core.h)
  uint64_t answer_timeout_ns = 10'000'000'000;      // for Ready and NAK answers
  engine::TransportChoice transport;                // --transport, --dpdk, --dpdk-port
  bool realtime = true;  // SCHED_FIFO for the pacing thread when permitted
  bool progress = false;
  std::string json_path;  // summary as JSON ("-" = stdout)
  std::string metrics;    // Prometheus endpoint address ("" = none), e.g. 127.0.0.1:9102
  std::string announce;   // "GROUP:PORT": announce the session there for `shoal recvd` ("" = no)
  std::string target_policy;  // --target: the disk the announcement names (object/target_disk.h)
  std::vector<std::string> hosts;  // --hosts: receivers expected (SenderConfig::hosts)
  // Reuse the manifest of a regular file sent unchanged before (object/manifest_cache.h).
  bool manifest_cache = true;
  std::string manifest_cache_dir;  // "" = ManifestCache::default_dir()
  EventLog events;  // --events: JSON Lines as the session goes (opened by the caller)
};

// How a send ended. kBadInput: the options, the object or a local resource (file, interface,
// port, key) was refused before any receiver was served; kError: a runtime fault during setup;
// kNobodyJoined: no receiver joined within --max-wait. Otherwise every admitted receiver that
// was not replaced by a later join of the same name is listed with its outcome.
struct SendResult {
  struct Receiver {
    std::string name, address;
    bool verified = false;
    bool unicast = false;  // served over TCP: multicast did not reach it, or it was slow
    std::string reason;    // why it failed ("" when verified)
    std::string via;       // the relay it was reported by ("" for the sender's own)
  };
  SendOutcome outcome = SendOutcome::kError;
  std::vector<Receiver> receivers;
  int stop_signal = 0;  // with kAborted: SIGINT or SIGTERM
};

// Runs one session to its end (log lines, --events, --json and the summary table as it goes).
SendResult run_sender(const SendOptions& options);

}  // namespace shoal::session
