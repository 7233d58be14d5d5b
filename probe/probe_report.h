// The result of `shoal probe` and what is made of it: the diagnosis of each receiver (silent,
// unicast vs multicast, MTU), the terminal table, JSON, CSV, and reading a saved JSON back for
// `shoal send --rate auto:FILE`. Pure apart from read_probe_file (it reads a file).
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "probe/probe_search.h"

namespace shoal::probe {

// What a step was for.
enum class StepKind {
  kSearch,     // multicast, part of the rate search
  kReference,  // multicast at the rate of the unicast comparison
  kUnicast,    // unicast to one receiver
  kMtuSmall,   // multicast, standard-size frames
  kMtuLarge,   // multicast, the largest frames the sender's interface takes
};
const char* to_string(StepKind kind);

struct ReceiverStep {
  bool answered = false;  // the receiver reported this step
  uint64_t received = 0, duplicated = 0, reordered = 0, socket_drops = 0, rejected = 0;
  bool has_delay = false;
  int64_t delay_min_ns = 0, delay_max_ns = 0;
};

struct StepResult {
  uint32_t step = 0;
  StepKind kind = StepKind::kSearch;
  std::string phase;  // search steps: up, down, bisect
  uint64_t target_bps = 0;
  uint64_t offered_bps = 0;  // what the sender achieved (IP rate incl. Ethernet header)
  uint32_t frame_bytes = 0;  // UDP payload per frame
  uint64_t frames_sent = 0;
  double seconds = 0;
  int unicast_to = -1;  // kUnicast: index of the receiver
  bool pass = false;    // every receiver that took part lost at most the threshold
  bool redone = false;  // search steps: repeated because this attempt looked disturbed (the
                        // sender fell short, or the loss was receivers' own socket drops);
                        // kept for the record, but the search and the plot ignore it
  std::vector<ReceiverStep> receivers;  // one per ProbeResult::receivers entry
};

struct ReceiverInfo {
  std::string name, address;  // address: the control connection's peer IP
  bool joined = false;        // answered Start
  bool heard = false;         // heard a beacon on the group
  std::string iface;          // where it joined the group
  uint32_t iface_ipv4 = 0, iface_mtu = 0;
  uint16_t unicast_port = 0;
  std::string failure;  // why it dropped out ("" = it stayed)
  // Filled by diagnose():
  std::string unicast_verdict, mtu_verdict;
  double unicast_loss = -1, reference_loss = -1;  // -1 = not measured
  std::vector<std::string> hints;
};

struct ProbeResult {
  std::string group;  // "239.1.2.3:9000"
  std::string iface, transport;
  int ttl = 1;
  double loss_threshold = 0.001;
  double headroom = 0.9;
  double dwell_s = 1.0;
  uint32_t wire_overhead = 42;  // bytes the rates count per frame besides the UDP payload
  std::vector<ReceiverInfo> receivers;
  std::vector<StepResult> steps;
  uint64_t max_ok_bps = 0, first_bad_bps = 0, recommended_bps = 0;
  SearchLimit limit = SearchLimit::kNone;
  std::string verdict;  // one or two sentences
  double seconds = 0;
};

// lost / sent of receiver r in step s (0 when nothing was sent).
double step_loss(const StepResult& s, size_t r);
// The rate receiver r received in step s: offered x received / sent.
double delivered_bps(const StepResult& s, size_t r);
// Receivers whose losses decide a search step: joined, heard the group, did not drop out.
bool counts_for_search(const ReceiverInfo& r);

// Fills the per-receiver verdicts and hints, the recommended rate (max_ok x headroom) and the
// overall verdict from steps and search outcome.
void diagnose(ProbeResult& result);

void print_table(const ProbeResult& result, std::FILE* out);
nlohmann::json to_json(const ProbeResult& result);
// One row per (step, receiver); header row first.
std::string to_csv(const ProbeResult& result);

struct SavedProbe {
  uint64_t max_ok_bps = 0;
  uint64_t recommended_bps = 0;
};
// Reads the result fields of a `shoal probe --json` file. Errors name the file and the problem
// (unreadable, not JSON, no recommended rate because the probe found no rate within the
// threshold).
Result<SavedProbe> read_probe_file(const std::string& path);

}  // namespace shoal::probe
