// selfcheck: a quick proof the FEC and hashing paths work on this machine, with a printed rate.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cli/commands.h"
#include "common/clock.h"
#include "fec/codec.h"

namespace shoal::cli {

Action add_selfcheck(CLI::App& app) {
  auto* sub =
      app.add_subcommand("selfcheck", "FEC round trip of a generated buffer, with the encode rate");
  return {sub, [] {
            constexpr unsigned k = 64, m = 8;
            constexpr size_t len = 1408, blocks = 512;
            auto codec = fec::Codec::for_k(k);
            if (!codec) {
              std::fprintf(stderr, "selfcheck: %s\n", codec.error().c_str());
              return 1;
            }
            std::mt19937_64 rng(1);
            std::vector<uint8_t> data(blocks * k * len), parity(blocks * m * len);
            for (auto& b : data) b = static_cast<uint8_t>(rng());
            uint64_t t0 = shoal::monotonic_ns();
            for (size_t b = 0; b < blocks; ++b) {
              const uint8_t* src[k];
              uint8_t* out[m];
              for (unsigned j = 0; j < k; ++j) src[j] = &data[(b * k + j) * len];
              for (unsigned j = 0; j < m; ++j) out[j] = &parity[(b * m + j) * len];
              if (!(*codec)->encode(src, len, k, m, out).ok()) return 1;
            }
            double secs = double(shoal::monotonic_ns() - t0) / 1e9;
            // Lose m random source symbols of every block and decode them back.
            size_t bad = 0;
            std::vector<uint8_t> rebuilt(k * len);
            for (size_t b = 0; b < blocks; ++b) {
              std::vector<unsigned> idx(k + m);
              for (unsigned i = 0; i < k + m; ++i) idx[i] = i;
              std::shuffle(idx.begin(), idx.end(), rng);
              uint8_t esis[k];
              const uint8_t* syms[k];
              uint8_t* outs[k];
              for (unsigned i = 0; i < k; ++i) {
                esis[i] = static_cast<uint8_t>(idx[i]);
                syms[i] = idx[i] < k ? &data[(b * k + idx[i]) * len]
                                     : &parity[(b * m + idx[i] - k) * len];
                outs[i] = &rebuilt[i * len];
              }
              if (!(*codec)->decode(esis, syms, k, len, outs).ok()) return 1;
              for (unsigned i = 0; i < k; ++i) {
                bool present = std::find(idx.begin(), idx.begin() + k, i) != idx.begin() + k;
                if (!present && std::memcmp(outs[i], &data[(b * k + i) * len], len) != 0) ++bad;
              }
            }
            std::printf(
                "selfcheck: FEC %u+%u, %zu-byte symbols, %zu blocks: encode %.2f GB/s of source, "
                "decode of %u lost symbols per block: %s\n",
                k, m, len, blocks, double(data.size()) / secs / 1e9, m,
                bad == 0 ? "ok" : "MISMATCH");
            return bad == 0 ? 0 : 1;
          }};
}

}  // namespace shoal::cli
