#include "session/receiver_report.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/event_log.h"
#include "common/units.h"

namespace shoal::session {

void ProgressLine::update(const ReceiverCore* core, uint32_t passes, uint64_t start_ns,
                          uint64_t now_ns, bool final_line) {
  if (!enabled_ || core == nullptr) return;
  if (!final_line && now_ns - last_ns_ < 250'000'000) return;
  last_ns_ = now_ns;
  double frac = core->block_count() ? double(core->blocks_done()) / core->block_count() : 1.0;
  double secs = double(now_ns - start_ns) / 1e9;
  double rate = secs > 0 ? double(core->stats().bytes_written) * 8 / secs : 0;
  std::fprintf(stderr, "\r  %5.1f%%  %u/%u blocks  %s  pass %u   ", frac * 100, core->blocks_done(),
               core->block_count(), format_rate(rate).c_str(), passes);
  if (final_line) std::fprintf(stderr, "\n");
}

void warn_socket_drops(const ReceiverSummary& s) {
  if (s.socket_drops == 0) return;
  spdlog::warn(
      "the kernel dropped {} datagrams on this receiver's socket: the receive thread fell behind "
      "(repair made up for them). Give it a CPU of its own, let the socket buffer grow "
      "(net.core.rmem_max >= {} bytes, or run as root), or lower the sender's --rate",
      s.socket_drops, s.socket_buffer);
}

void write_receiver_json(const std::string& path, const ReceiverSummary& s) {
  if (path.empty()) return;
  nlohmann::json j;
  j["outcome"] = s.outcome;
  if (!s.reason.empty()) j["reason"] = s.reason;
  j["out"] = s.out;
  // The object's SHA-256 as the sender stated it, after the last block hash. Done means every
  // block matched its hash, so the object is the one the sender hashed: this is its SHA-256.
  if (s.sha256) j["sha256"] = to_hex(*s.sha256);
  if (s.core) {
    const ReceiverStats& st = s.core->stats();
    j["bytes"] = s.core->object_size();
    j["bytes_written"] = st.bytes_written;
    j["frames_received"] = st.frames_received;
    j["frames_rejected"] = st.frames_rejected;
    j["frames_foreign"] = st.frames_foreign;
    j["frames_unauthenticated"] = st.frames_unauthenticated;
    j["frames_replayed"] = st.frames_replayed;
    j["frames_ahead"] = st.frames_ahead;
    j["block_hash_failures"] = st.block_hash_failures;
    j["blocks_fetched"] = st.blocks_fetched;
    j["blocks_spilled"] = st.spills;
    j["blocks_parked"] = st.blocks_parked;
    j["blocks_resumed"] = s.core->resumed_blocks();
    j["blocks_zero"] = st.blocks_zero;
    j["resume_mismatches"] = st.resume_mismatches;
    j["repair_symbols_multicast"] = st.symbols_multicast_repair;
    j["repair_symbols_unicast"] = st.symbols_unicast_repair;
    j["frames_dropped_no_room"] = st.no_room_drops;
    j["writes_deferred"] = st.writes_deferred;
    j["socket_drops"] = s.socket_drops;
    j["socket_buffer_bytes"] = s.socket_buffer;
    j["passes"] = s.passes;
    j["seconds"] = s.seconds;
    j["peer_passes_taken"] = s.peer_passes_taken;
    j["peer_symbols_taken"] = s.peer_symbols_taken;
    j["peer_passes_served"] = s.peer_passes_served;
    j["peer_symbols_served"] = s.peer_symbols_served;
  }
  if (path == "-") {
    std::cout << j.dump() << std::endl;
  } else {
    std::ofstream(path) << j.dump(2) << "\n";
  }
}

}  // namespace shoal::session
