// The manifest: what a receiver needs to verify the object before it is presented as complete.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "fec/layout.h"

namespace shoal::object {

using Digest = std::array<uint8_t, 32>;

struct Manifest {
  std::vector<Digest> block_sha256;  // one per block, over the block's real bytes
  Digest object_sha256{};            // over the whole object
};

// Hashes every block and the whole object in one read of the data.
Manifest build_manifest(std::span<const uint8_t> object, const fec::BlockLayout& layout);

Digest sha256(std::span<const uint8_t> data);

// Incremental SHA-256 (RAII over OpenSSL's EVP context), for the receiver's whole-object check.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const uint8_t> data);
  Digest finish();

 private:
  void* ctx_;
};

}  // namespace shoal::object
