// How the block hashes are cut into Manifest messages (session/sender_stream.cc).
#pragma once

#include <cstdint>

namespace shoal::session {

// Block hashes per Manifest message: 16, 32, ... doubling up to 512 (16 KiB). A block's data
// waits until its message's blocks are hashed, so the first data waits for 16 blocks (~1.4 MB at
// 64 x 1408), not 512 (~45 MB): a pipe or a relay starts sending as soon as its input begins.
// Every receiver's tag covers one digest per message.
inline constexpr uint32_t kFirstManifestChunk = 16;
inline constexpr uint32_t kManifestChunk = 512;
inline constexpr uint32_t kGrowingChunks = 5;  // 16 .. 256
// 16 + 32 + 64 + 128 + 256
inline constexpr uint32_t kGrowingBlocks = kFirstManifestChunk * ((1u << kGrowingChunks) - 1);

// The blocks of manifest message `chunk`.
inline uint64_t chunk_first(uint32_t chunk) {
  if (chunk < kGrowingChunks) return kFirstManifestChunk * ((1u << chunk) - 1);
  return kGrowingBlocks + uint64_t{chunk - kGrowingChunks} * kManifestChunk;
}
inline uint64_t chunk_end(uint32_t chunk) {
  return chunk_first(chunk + 1);
}
// The message that carries `block`'s hash.
inline uint32_t chunk_of(uint32_t block) {
  if (block >= kGrowingBlocks) return kGrowingChunks + (block - kGrowingBlocks) / kManifestChunk;
  uint32_t chunk = 0;
  while (chunk_end(chunk) <= block) ++chunk;
  return chunk;
}

}  // namespace shoal::session
