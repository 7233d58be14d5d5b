// Measures how fast UdpTx -> UdpRx moves data across a fresh namespace test bed (as root):
//   udp_throughput [--receivers N] [--mode wire|gso] [--no-gso] [--no-gro] [--seconds S]
//                  [--size BYTES] [--burst FRAMES] [--window FRAMES] [--cap RATE] [--loss PERMILLE]
// The sender is paced by the slowest receiver (window), so the figure is lossless goodput: UDP
// payload bit/s each receiver got between its first and last data frame.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/integration/netns_harness.h"

using namespace shoal::itest;

int main(int argc, char** argv) {
  SessionConfig cfg;
  cfg.seconds = 5;
  cfg.frames = 20'000'000;  // an upper bound; the run stops after cfg.seconds
  int receivers = 3;
  std::string mode = "wire";
  std::string cap, loss;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--receivers")
      receivers = std::atoi(next());
    else if (a == "--mode")
      mode = next();
    else if (a == "--no-gso")
      cfg.gso = false;
    else if (a == "--no-gro")
      cfg.gro = false;
    else if (a == "--seconds")
      cfg.seconds = std::atof(next());
    else if (a == "--size")
      cfg.frame_size = static_cast<uint16_t>(std::atoi(next()));
    else if (a == "--burst")
      cfg.tx_burst = std::atoi(next());
    else if (a == "--cap")
      cap = next();
    else if (a == "--loss")
      loss = next();
    else if (a == "--window")
      cfg.window = static_cast<uint32_t>(std::atoi(next()));
    else {
      std::fprintf(stderr,
                   "unknown argument %s (see the comment at the top of udp_throughput.cc)\n",
                   a.c_str());
      return 2;
    }
  }
  if (const std::string why = bed_unavailable_reason(); !why.empty()) {
    std::fprintf(stderr, "udp_throughput: %s\n", why.c_str());
    return 77;
  }
  Testbed bed(unique_prefix("tp"), receivers, mode);
  if (bed.up_status() != 0) return bed.up_status();
  if (!cap.empty() && bed.run("cap", cap) != 0) return 1;
  if (!loss.empty() && bed.run("loss", "all " + loss) != 0) return 1;
  const SessionReport rep = run_session(bed, cfg);
  if (!rep.error.empty()) {
    std::fprintf(stderr, "udp_throughput: %s\n", rep.error.c_str());
    return 1;
  }
  std::printf("cap %s, loss %s permille\n", cap.empty() ? "none" : cap.c_str(),
              loss.empty() ? "0" : loss.c_str());
  std::printf(
      "bed mode %s, %d receivers, %u-byte frames, tx gso %s, burst %d: sent %llu frames in "
      "%.2f s (%.0f Mbit/s), %llu messages, %llu syscalls\n",
      mode.c_str(), receivers, cfg.frame_size, rep.gso ? "on" : "off", cfg.tx_burst,
      static_cast<unsigned long long>(rep.frames_sent), rep.send_seconds,
      static_cast<double>(rep.frames_sent) * cfg.frame_size * 8.0 / rep.send_seconds / 1e6,
      static_cast<unsigned long long>(rep.tx_messages),
      static_cast<unsigned long long>(rep.tx_syscalls));
  for (size_t k = 0; k < rep.receivers.size(); ++k) {
    const ReceiverReport& r = rep.receivers[k];
    std::printf(
        "  rx%zu: gro %s, %.0f Mbit/s, %llu frames in %llu buffers, lost %llu, kernel drops "
        "%llu, corrupt %llu\n",
        k + 1, r.gro ? "on" : "off",
        r.active_seconds > 0
            ? static_cast<double>(r.data_frames) * cfg.frame_size * 8.0 / r.active_seconds / 1e6
            : 0.0,
        static_cast<unsigned long long>(r.data_frames),
        static_cast<unsigned long long>(r.rx_buffers),
        static_cast<unsigned long long>(rep.frames_sent - r.data_frames),
        static_cast<unsigned long long>(r.kernel_drops),
        static_cast<unsigned long long>(r.corrupt));
  }
  return 0;
}
