// The chunked-zstd format (Session.object_format bit kObjectFormatZstd): the content is cut into
// fixed-size chunks, each stored as one independent zstd frame, as raw bytes when zstd does not
// shrink it, or not at all when it is all zeros (a hole). Independent chunks let a receiver
// decode and write one at a time and skip holes (sparse files, untouched device blocks). Layout
// (big-endian; docs/protocol.md section 8.2 is the normative text):
//
//   header (32 bytes): magic "SHOALZST", u16 version (1), u16 flags (0), u32 chunk_size,
//                      u64 original_size, u32 chunk_count, u32 reserved (0)
//   index  (16 bytes per chunk): u64 offset, u32 length, u8 kind (0 hole, 1 zstd, 2 raw),
//                      u8[3] reserved (0)
//   data: the stored chunks in index order, back to back; the object ends with the last one.
//
// Chunk i covers content bytes [i * chunk_size, min((i + 1) * chunk_size, original_size)).
// parse_chunk_index() is pure (fuzzed by fuzz/object_format_fuzz.cc); decode_chunks() checks
// every frame decodes to exactly its chunk's length before handing bytes on.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::object {

inline constexpr char kChunkMagic[8] = {'S', 'H', 'O', 'A', 'L', 'Z', 'S', 'T'};
inline constexpr uint16_t kChunkVersion = 1;
inline constexpr size_t kChunkHeaderSize = 32;
inline constexpr size_t kChunkIndexEntrySize = 16;
inline constexpr uint32_t kDefaultChunkSize = uint32_t{1} << 20;
inline constexpr uint32_t kMinChunkSize = 4096;  // a power of two in between
inline constexpr uint32_t kMaxChunkSize = uint32_t{64} << 20;
inline constexpr int kDefaultZstdLevel = 3;

enum class ChunkKind : uint8_t { kHole = 0, kZstd = 1, kRaw = 2 };

struct ChunkEntry {
  uint64_t offset = 0;  // in the object; 0 for a hole
  uint32_t length = 0;  // stored bytes; 0 for a hole
  ChunkKind kind = ChunkKind::kHole;
};

struct ChunkIndex {
  uint32_t chunk_size = kDefaultChunkSize;
  uint64_t original_size = 0;
  std::vector<ChunkEntry> chunks;
  // Content bytes of chunk i.
  uint32_t chunk_length(size_t i) const;
  // Content bytes of all chunks that are not holes (what a decoder writes).
  uint64_t data_bytes() const;
};

struct CompressStats {
  uint64_t original_bytes = 0;
  uint64_t packed_bytes = 0;  // the whole packed object
  uint64_t chunks = 0, holes = 0, raw = 0;
};

// Compresses `content` into `fd`, which must be an empty regular file (written from offset 0 with
// pwrite). `level` is a zstd level (1..19). `label` names the output in errors. `source_fd`, when
// given, is the file `content` maps: chunks inside its holes (lseek SEEK_DATA) become holes
// without being read, so a sparse terabyte packs in a second, not in a read of every byte.
Result<CompressStats> compress_chunks(std::span<const uint8_t> content, int fd,
                                      const std::string& label, int level = kDefaultZstdLevel,
                                      uint32_t chunk_size = kDefaultChunkSize, int source_fd = -1);

// Parses and checks the header and index at the start of `object` (the whole packed object):
// magic, version 1, flags and reserved fields 0, chunk_size a power of two in
// [kMinChunkSize, kMaxChunkSize], chunk_count == ceil(original_size / chunk_size) (< 2^32, and
// the index fits the bytes present before anything is allocated), kinds 0..2, holes with offset
// and length 0, raw chunks exactly their chunk's length, zstd chunks 1..ZSTD_compressBound(chunk
// length) bytes, stored chunks back to back in index order from the end of the index, and the
// object ending exactly at the last one. The error says which rule and which chunk.
Result<ChunkIndex> parse_chunk_index(std::span<const uint8_t> object);

// For every chunk that is not a hole, in order: decodes it and calls on_data(content_offset,
// bytes) (bytes valid during the call). A zstd chunk must be exactly one frame that declares and
// yields its chunk's length. Stops at the first error (a bad frame, or on_data's).
using ChunkDataFn = std::function<Status(uint64_t offset, std::span<const uint8_t> bytes)>;
Status decode_chunks(std::span<const uint8_t> object, const ChunkIndex& index,
                     const ChunkDataFn& on_data);

// "zstd" or "zstd:LEVEL" (1..19) -> the level; anything else is an error naming the choices.
Result<int> parse_compress_option(const std::string& text);

}  // namespace shoal::object
