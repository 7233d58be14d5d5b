#include "object/chunk_codec.h"

#include <unistd.h>

#include <zstd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>

#include "object/sparse_file.h"

namespace shoal::object {

namespace {

void put(uint8_t* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t get(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

struct CctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

uint32_t ChunkIndex::chunk_length(size_t i) const {
  const uint64_t start = uint64_t{chunk_size} * i;
  return static_cast<uint32_t>(std::min<uint64_t>(chunk_size, original_size - start));
}

uint64_t ChunkIndex::data_bytes() const {
  uint64_t n = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i].kind != ChunkKind::kHole) n += chunk_length(i);
  }
  return n;
}

Result<CompressStats> compress_chunks(std::span<const uint8_t> content, int fd,
                                      const std::string& label, int level, uint32_t chunk_size,
                                      int source_fd) {
  if (chunk_size < kMinChunkSize || chunk_size > kMaxChunkSize ||
      !std::has_single_bit(chunk_size)) {
    return make_error("chunk size " + std::to_string(chunk_size) + " is not a power of two in " +
                      std::to_string(kMinChunkSize) + ".." + std::to_string(kMaxChunkSize));
  }
  const uint64_t count = (content.size() + chunk_size - 1) / chunk_size;
  if (count > UINT32_MAX) return make_error("object too large for the chunk index");
  std::unique_ptr<ZSTD_CCtx, CctxFree> cctx(ZSTD_createCCtx());
  if (!cctx) return make_error("cannot create a zstd compression context (out of memory?)");
  // Each frame carries its content size (checked on decode) and a checksum (a damaged frame
  // fails on its own, before the whole-object hash would say so).
  if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1))) {
    return make_error("zstd level " + std::to_string(level) + " is not supported");
  }

  std::vector<uint8_t> index(kChunkHeaderSize + count * kChunkIndexEntrySize, 0);
  std::vector<uint8_t> frame(ZSTD_compressBound(chunk_size));
  CompressStats st;
  st.original_bytes = content.size();
  st.chunks = count;
  uint64_t at = index.size();  // stored chunks follow the index
  uint64_t next_data = 0;      // the source holds no data in [start, next_data) (SEEK_DATA)
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t start = i * chunk_size;
    const auto chunk =
        content.subspan(start, std::min<uint64_t>(chunk_size, content.size() - start));
    if (source_fd >= 0 && start >= next_data) {
      const off_t d = ::lseek(source_fd, static_cast<off_t>(start), SEEK_DATA);
      // ENXIO: no data after `start`; any other failure: no hole information, read everything.
      next_data = d >= 0 ? static_cast<uint64_t>(d) : errno == ENXIO ? UINT64_MAX : start;
      if (d < 0 && errno != ENXIO) source_fd = -1;
    }
    ChunkEntry e;
    if ((source_fd >= 0 && next_data >= start + chunk.size()) || all_zero(chunk)) {
      ++st.holes;  // kind 0, offset 0, length 0
    } else {
      size_t n = ZSTD_compress2(cctx.get(), frame.data(), frame.size(), chunk.data(), chunk.size());
      if (ZSTD_isError(n)) {
        return make_error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
      }
      std::span<const uint8_t> stored(frame.data(), n);
      e.kind = ChunkKind::kZstd;
      if (n >= chunk.size()) {  // incompressible: store it as is
        stored = chunk;
        e.kind = ChunkKind::kRaw;
        ++st.raw;
      }
      Status w = write_all(fd, at, stored, label);
      if (!w) return make_error(w.error());
      e.offset = at;
      e.length = static_cast<uint32_t>(stored.size());
      at += stored.size();
    }
    uint8_t* p = index.data() + kChunkHeaderSize + i * kChunkIndexEntrySize;
    put(p, e.offset, 8);
    put(p + 8, e.length, 4);
    p[12] = static_cast<uint8_t>(e.kind);
  }
  std::memcpy(index.data(), kChunkMagic, sizeof kChunkMagic);
  put(index.data() + 8, kChunkVersion, 2);
  put(index.data() + 12, chunk_size, 4);
  put(index.data() + 16, content.size(), 8);
  put(index.data() + 24, count, 4);
  Status w = write_all(fd, 0, index, label);
  if (!w) return make_error(w.error());
  st.packed_bytes = at;
  return st;
}

Result<ChunkIndex> parse_chunk_index(std::span<const uint8_t> object) {
  auto bad = [](const std::string& why) { return make_error("compressed object: " + why); };
  if (object.size() < kChunkHeaderSize) {
    return bad("object of " + std::to_string(object.size()) + " bytes is shorter than the " +
               std::to_string(kChunkHeaderSize) + "-byte header");
  }
  const uint8_t* h = object.data();
  if (std::memcmp(h, kChunkMagic, sizeof kChunkMagic) != 0) return bad("wrong magic");
  const uint64_t version = get(h + 8, 2);
  if (version != kChunkVersion) {
    return bad("format version " + std::to_string(version) + ", this receiver reads version " +
               std::to_string(kChunkVersion));
  }
  if (get(h + 10, 2) != 0 || get(h + 28, 4) != 0) return bad("unknown flags or reserved bits set");
  ChunkIndex ix;
  const uint64_t chunk_size = get(h + 12, 4);
  ix.original_size = get(h + 16, 8);
  const uint64_t count = get(h + 24, 4);
  if (chunk_size < kMinChunkSize || chunk_size > kMaxChunkSize ||
      !std::has_single_bit(chunk_size)) {
    return bad("chunk size " + std::to_string(chunk_size) + " is not a power of two in " +
               std::to_string(kMinChunkSize) + ".." + std::to_string(kMaxChunkSize));
  }
  ix.chunk_size = static_cast<uint32_t>(chunk_size);
  const uint64_t want = ix.original_size / chunk_size + (ix.original_size % chunk_size != 0);
  if (count != want) {
    return bad(std::to_string(count) + " chunks, but " + std::to_string(ix.original_size) +
               " bytes in chunks of " + std::to_string(chunk_size) + " make " +
               std::to_string(want));
  }
  if (count > (object.size() - kChunkHeaderSize) / kChunkIndexEntrySize) {
    return bad("index of " + std::to_string(count) + " chunks runs past the object's end");
  }
  ix.chunks.resize(count);
  uint64_t next = kChunkHeaderSize + count * kChunkIndexEntrySize;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* p = h + kChunkHeaderSize + i * kChunkIndexEntrySize;
    ChunkEntry& e = ix.chunks[i];
    e.offset = get(p, 8);
    e.length = static_cast<uint32_t>(get(p + 8, 4));
    const uint8_t kind = p[12];
    const std::string at = "chunk " + std::to_string(i) + ": ";
    if (p[13] != 0 || p[14] != 0 || p[15] != 0) return bad(at + "reserved bytes are not 0");
    if (kind > 2) return bad(at + "unknown kind " + std::to_string(kind));
    e.kind = static_cast<ChunkKind>(kind);
    const uint32_t len = ix.chunk_length(i);
    if (e.kind == ChunkKind::kHole) {
      if (e.offset != 0 || e.length != 0) return bad(at + "a hole with stored bytes");
      continue;
    }
    if (e.kind == ChunkKind::kRaw && e.length != len) {
      return bad(at + "raw chunk of " + std::to_string(e.length) + " bytes, expected " +
                 std::to_string(len));
    }
    if (e.kind == ChunkKind::kZstd && (e.length == 0 || e.length > ZSTD_compressBound(len))) {
      return bad(at + "zstd frame of " + std::to_string(e.length) + " bytes for a chunk of " +
                 std::to_string(len));
    }
    if (e.offset != next) {
      return bad(at + "stored at offset " + std::to_string(e.offset) + ", expected " +
                 std::to_string(next) + " (chunks must be back to back in index order)");
    }
    if (e.length > object.size() - next) return bad(at + "runs past the object's end");
    next += e.length;
  }
  if (next != object.size()) {
    return bad(std::to_string(object.size() - next) + " bytes after the last chunk belong to none");
  }
  return ix;
}

Status decode_chunks(std::span<const uint8_t> object, const ChunkIndex& index,
                     const ChunkDataFn& on_data) {
  std::unique_ptr<ZSTD_DCtx, DctxFree> dctx(ZSTD_createDCtx());
  if (!dctx) return make_error("cannot create a zstd decompression context (out of memory?)");
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < index.chunks.size(); ++i) {
    const ChunkEntry& e = index.chunks[i];
    if (e.kind == ChunkKind::kHole) continue;
    if (e.offset > object.size() || e.length > object.size() - e.offset) {
      return make_error("compressed object: chunk " + std::to_string(i) + " is out of bounds");
    }
    const auto stored = object.subspan(e.offset, e.length);
    const uint32_t len = index.chunk_length(i);
    const uint64_t content_offset = uint64_t{index.chunk_size} * i;
    if (e.kind == ChunkKind::kRaw) {
      if (stored.size() != len)
        return make_error("compressed object: bad raw chunk " + std::to_string(i));
      Status s = on_data(content_offset, stored);
      if (!s) return s;
      continue;
    }
    const std::string at = "compressed object: chunk " + std::to_string(i) + ": ";
    if (ZSTD_findFrameCompressedSize(stored.data(), stored.size()) != stored.size()) {
      return make_error(at + "not exactly one zstd frame");
    }
    if (ZSTD_getFrameContentSize(stored.data(), stored.size()) != len) {
      return make_error(at + "the frame does not declare the chunk's length");
    }
    buf.resize(len);
    size_t n =
        ZSTD_decompressDCtx(dctx.get(), buf.data(), buf.size(), stored.data(), stored.size());
    if (ZSTD_isError(n)) return make_error(at + "zstd: " + ZSTD_getErrorName(n));
    if (n != len)
      return make_error(at + "decoded to " + std::to_string(n) + " bytes, expected " +
                        std::to_string(len));
    Status s = on_data(content_offset, std::span<const uint8_t>(buf.data(), n));
    if (!s) return s;
  }
  return {};
}

Result<int> parse_compress_option(const std::string& text) {
  if (text == "zstd") return kDefaultZstdLevel;
  if (text.rfind("zstd:", 0) == 0) {
    const std::string level = text.substr(5);
    if (!level.empty() && level.size() <= 2 &&
        level.find_first_not_of("0123456789") == std::string::npos) {
      int v = std::stoi(level);
      if (v >= 1 && v <= 19) return v;
    }
  }
  return make_error("--compress '" + text + "': expected zstd or zstd:LEVEL with LEVEL 1..19");
}

}  // namespace shoal::object
