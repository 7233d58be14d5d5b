// The chunked-zstd codec: round trips with holes, raw and compressed chunks; every corrupted
// header or index byte and every truncation is refused; the receiver-side glue
// (finish_object) writes a sparse file and refuses formats it cannot read.
#include "object/chunk_codec.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "object/object_format.h"
#include "object/sparse_file.h"
#include "object/tree_format.h"
#include "object/tree_pack.h"

namespace shoal::object {
namespace {

namespace fs = std::filesystem;
constexpr uint32_t kChunk = 4096;

std::vector<uint8_t> random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Content of 5.5 chunks: random, zeros, text, zeros, random, and half a chunk of random.
std::vector<uint8_t> sample_content() {
  std::vector<uint8_t> c;
  auto add = [&](std::vector<uint8_t> part) { c.insert(c.end(), part.begin(), part.end()); };
  add(random_bytes(kChunk, 1));
  add(std::vector<uint8_t>(kChunk, 0));
  std::string text;
  while (text.size() < kChunk) text += "shoal sends one object to many receivers. ";
  add(std::vector<uint8_t>(text.begin(), text.begin() + kChunk));
  add(std::vector<uint8_t>(kChunk, 0));
  add(random_bytes(kChunk, 2));
  add(random_bytes(kChunk / 2, 3));
  return c;
}

std::vector<uint8_t> compress(std::span<const uint8_t> content, CompressStats* stats = nullptr,
                              uint32_t chunk = kChunk) {
  int fd = ::memfd_create("chunk-test", MFD_CLOEXEC);
  EXPECT_GE(fd, 0);
  auto st = compress_chunks(content, fd, "memfd", kDefaultZstdLevel, chunk);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error());
  std::vector<uint8_t> out;
  if (st.ok()) {
    if (stats != nullptr) *stats = *st;
    out.resize(st->packed_bytes);
    EXPECT_EQ(::pread(fd, out.data(), out.size(), 0), ssize_t(out.size()));
  }
  ::close(fd);
  return out;
}

// Decodes `packed` into a buffer of the original size (holes stay zero).
Result<std::vector<uint8_t>> expand(std::span<const uint8_t> packed) {
  auto ix = parse_chunk_index(packed);
  if (!ix) return make_error(ix.error());
  std::vector<uint8_t> out(ix->original_size, 0);
  Status s = decode_chunks(packed, *ix, [&](uint64_t off, std::span<const uint8_t> b) -> Status {
    if (off + b.size() > out.size()) return make_error("beyond the end");
    std::copy(b.begin(), b.end(), out.begin() + static_cast<ptrdiff_t>(off));
    return {};
  });
  if (!s) return make_error(s.error());
  return out;
}

TEST(ChunkCodec, RoundTripWithHolesRawAndCompressedChunks) {
  const std::vector<uint8_t> content = sample_content();
  CompressStats st;
  const std::vector<uint8_t> packed = compress(content, &st);
  EXPECT_EQ(st.chunks, 6u);
  EXPECT_EQ(st.holes, 2u);
  EXPECT_EQ(st.raw, 3u);  // the random chunks do not shrink
  auto ix = parse_chunk_index(packed);
  ASSERT_TRUE(ix.ok()) << ix.error();
  EXPECT_EQ(ix->chunks[1].kind, ChunkKind::kHole);
  EXPECT_EQ(ix->chunks[2].kind, ChunkKind::kZstd);
  EXPECT_LT(ix->chunks[2].length, kChunk / 4);
  EXPECT_EQ(ix->data_bytes(), content.size() - 2 * kChunk);
  auto back = expand(packed);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, content);
}

TEST(ChunkCodec, EmptyAndAllZeroContent) {
  const std::vector<uint8_t> empty;
  auto e = expand(compress(empty));
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_TRUE(e->empty());

  const std::vector<uint8_t> zeros(10 * kChunk + 5, 0);
  const std::vector<uint8_t> packed = compress(zeros);
  EXPECT_EQ(packed.size(), kChunkHeaderSize + 11 * kChunkIndexEntrySize) << "holes take no data";
  auto z = expand(packed);
  ASSERT_TRUE(z.ok()) << z.error();
  EXPECT_EQ(*z, zeros);
}

TEST(ChunkCodec, EveryCorruptedHeaderOrIndexBitIsRefused) {
  const std::vector<uint8_t> packed = compress(sample_content());
  const size_t index_end = kChunkHeaderSize + 6 * kChunkIndexEntrySize;
  for (size_t i = 0; i < index_end; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = packed;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(expand(bad).ok()) << "flipped bit " << bit << " of byte " << i;
    }
  }
}

TEST(ChunkCodec, CorruptFramesAndTruncationsAreRefused) {
  const std::vector<uint8_t> packed = compress(sample_content());
  auto ix = parse_chunk_index(packed);
  ASSERT_TRUE(ix.ok());
  const ChunkEntry& z = ix->chunks[2];
  ASSERT_EQ(z.kind, ChunkKind::kZstd);
  // A damaged frame never yields wrong bytes: every flipped bit is refused (bad block, or the
  // frame's checksum) or, where the zstd spec says decoders ignore the bit (window size, reserved
  // bits), decodes to the very same content.
  const std::vector<uint8_t> content = sample_content();
  size_t refused = 0;
  for (uint32_t i = 4; i < z.length; ++i) {  // past the magic number
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = packed;
      bad[z.offset + i] ^= static_cast<uint8_t>(1 << bit);
      auto got = expand(bad);
      if (!got.ok()) {
        ++refused;
      } else {
        EXPECT_EQ(*got, content) << "flipped bit " << bit << " of frame byte " << i;
      }
    }
  }
  EXPECT_GT(refused, (z.length - 4) * 8 * 9 / 10) << "most flips must be caught";
  for (size_t n = 0; n < packed.size(); ++n) {
    EXPECT_FALSE(parse_chunk_index(std::span(packed).first(n)).ok()) << "prefix of " << n;
  }
  std::vector<uint8_t> longer = packed;
  longer.push_back(0);
  EXPECT_FALSE(parse_chunk_index(longer).ok());
}

TEST(ChunkCodec, CompressOption) {
  EXPECT_EQ(*parse_compress_option("zstd"), kDefaultZstdLevel);
  EXPECT_EQ(*parse_compress_option("zstd:1"), 1);
  EXPECT_EQ(*parse_compress_option("zstd:19"), 19);
  for (const char* bad : {"", "gzip", "zstd:", "zstd:0", "zstd:20", "zstd:-1", "zstd:3x"}) {
    EXPECT_FALSE(parse_compress_option(bad).ok()) << bad;
  }
}

struct TempDir {
  fs::path path;
  TempDir() {
    char t[] = "/tmp/shoal-chunk-test.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { remove_tree(path.string()); }
};

TEST(SparseFile, WriteSparseLeavesZeroUnitsAsHoles) {
  TempDir d;
  const fs::path p = d.path / "f";
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> data(1 << 20, 0);
  data[100] = 1;            // first unit written
  data[(1 << 20) - 1] = 7;  // last unit written
  ASSERT_TRUE(write_sparse(fd, 0, data, "f").ok());
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  std::vector<uint8_t> back(data.size());
  ASSERT_EQ(::pread(fd, back.data(), back.size(), 0), ssize_t(back.size()));
  ::close(fd);
  EXPECT_EQ(back, data);
  EXPECT_LE(st.st_blocks * 512, 64 * 1024) << "zero units were allocated";
}

TEST(ObjectFormat, FinishWritesASparseFileAndRemovesThePackedObject) {
  TempDir d;
  std::vector<uint8_t> image(8u << 20, 0);
  const std::vector<uint8_t> noise = random_bytes(300'000, 9);
  std::copy(noise.begin(), noise.end(), image.begin() + (3 << 20));
  const std::vector<uint8_t> packed = compress(image, nullptr, kDefaultChunkSize);
  const fs::path packed_path = d.path / ".img.shoal-packed", out = d.path / "img";
  std::ofstream(packed_path, std::ios::binary)
      .write(reinterpret_cast<const char*>(packed.data()), std::streamsize(packed.size()));
  Status s = finish_object(packed_path.string(), out.string(), control::kObjectFormatZstd, {});
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_FALSE(fs::exists(packed_path));
  std::ifstream in(out, std::ios::binary);
  std::vector<uint8_t> got{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(got, image);
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "holes were written out";
}

TEST(ObjectFormat, ReceivedPathAndRefusals) {
  TempDir d;
  const std::string out = (d.path / "x").string();
  EXPECT_EQ(*received_object_path(out, 0, "", "", false), out);
  auto z = received_object_path(out, control::kObjectFormatZstd, "", "", false);
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(*z, (d.path / ".x.shoal-packed").string());
  auto spooled =
      received_object_path(out, control::kObjectFormatTree, (d.path / "sp").string(), "", false);
  ASSERT_TRUE(spooled.ok()) << spooled.error();
  EXPECT_EQ(*spooled, (d.path / "sp/.x.shoal-packed").string());
  // "into DIR/" must not be taken as "replace DIR".
  EXPECT_FALSE(received_object_path(out + "/", control::kObjectFormatTree, "", "", true).ok());

  auto unknown = received_object_path(out, 0x04, "", "", false);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("0x04"), std::string::npos) << unknown.error();

  fs::create_directories(out);
  auto exists = received_object_path(out, control::kObjectFormatTree, "", "", false);
  ASSERT_FALSE(exists.ok());
  EXPECT_NE(exists.error().find("--force"), std::string::npos) << exists.error();
  EXPECT_TRUE(received_object_path(out, control::kObjectFormatTree, "", "", true).ok());
}

// The fuzzer's seeds must stay valid as the formats evolve: each is a packed tree or a chunked
// object that decodes.
TEST(ObjectFormat, EveryFuzzSeedParses) {
  const fs::path dir = SHOAL_OBJECT_FORMAT_CORPUS_DIR;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  size_t trees = 0, chunked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in),
                               std::istreambuf_iterator<char>()};
    auto tree = parse_tree_table(bytes);
    auto chunks = expand(bytes);
    EXPECT_TRUE(tree.ok() || chunks.ok())
        << entry.path() << ": " << tree.error() << " / " << chunks.error();
    trees += tree.ok();
    chunked += chunks.ok();
  }
  EXPECT_GT(trees, 0u);
  EXPECT_GT(chunked, 0u);
}

}  // namespace
}  // namespace shoal::object
