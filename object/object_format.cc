#include "object/object_format.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/clock.h"
#include "common/fd.h"
#include "common/fresh_file.h"
#include "common/units.h"
#include "object/chunk_codec.h"
#include "object/object_sink.h"
#include "object/sparse_file.h"
#include "object/spool_file.h"
#include "object/tree_pack.h"

namespace shoal::object {

namespace {

namespace fs = std::filesystem;

// `shoal send -`: all of stdin into `f` (the session needs the size before it starts, and repair
// needs any block at any time). Returns the bytes read.
Result<uint64_t> spool_stdin(const SpoolFile& f) {
  if (Status tty = check_stdin_is_no_terminal(STDIN_FILENO); !tty) return make_error(tty.error());
  std::vector<uint8_t> buf(size_t{1} << 20);
  uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(std::string("send -: reading stdin: ") + std::strerror(errno));
    if (n == 0) return total;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(f.fd(), buf.data() + done, size_t(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        return make_error("send -: writing " + f.label() + ": " + std::strerror(errno) +
                          " (it needs room for the whole object: choose another with --spool)");
      }
      done += w;
    }
    total += uint64_t(n);
  }
}

bool is_block_device(const std::string& path) {
  std::error_code ec;
  return fs::is_block_file(path, ec);
}

std::string dir_of(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

void fsync_dir(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// Decompresses into a new sparse regular file at `out` (through `.NAME.shoal-part`).
Status decompress_to_file(std::span<const uint8_t> packed, const ChunkIndex& ix,
                          const std::string& out) {
  const std::string dir = dir_of(out);
  if (Status s = check_free_space(dir, ix.data_bytes(), "the decompressed object"); !s) return s;
  const std::string temp =
      (fs::path(dir) / ("." + fs::path(out).filename().string() + ".shoal-part")).string();
  auto created = create_fresh_file(temp, O_WRONLY);
  if (!created) return make_error(created.error());
  int fd = created->release();
  Status s = decode_chunks(packed, ix, [&](uint64_t offset, std::span<const uint8_t> bytes) {
    return write_sparse(fd, offset, bytes, temp);
  });
  if (s && ::ftruncate(fd, static_cast<off_t>(ix.original_size)) != 0) {
    s = make_error("cannot size '" + temp + "': " + std::strerror(errno));
  }
  if (s && ::fdatasync(fd) != 0)
    s = make_error("cannot flush '" + temp + "': " + std::strerror(errno));
  ::close(fd);
  if (s && ::rename(temp.c_str(), out.c_str()) != 0) {
    s = make_error("cannot rename '" + temp + "' to '" + out + "': " + std::strerror(errno));
  }
  if (!s) {
    ::unlink(temp.c_str());
    return s;
  }
  fsync_dir(dir);
  return {};
}

// Decompresses onto a block device in place: holes are skipped, or zeroed with zero_holes.
Status decompress_to_device(std::span<const uint8_t> packed, const ChunkIndex& ix,
                            const std::string& out, const FinishOptions& o) {
  auto sink = ObjectSink::create(out, ix.original_size, o.force, /*reuse=*/false);
  if (!sink) return make_error(sink.error());
  size_t next = 0;  // chunks before `next` are written (or skipped holes)
  std::vector<uint8_t> zeros;
  auto holes_until = [&](size_t end) -> Status {
    for (; next < end; ++next) {
      if (ix.chunks[next].kind != ChunkKind::kHole || !o.zero_holes) continue;
      zeros.assign(ix.chunk_length(next), 0);
      if (Status s = sink->write(uint64_t{ix.chunk_size} * next, zeros); !s) return s;
    }
    return {};
  };
  Status s = decode_chunks(packed, ix, [&](uint64_t offset, std::span<const uint8_t> bytes) {
    const size_t chunk = static_cast<size_t>(offset / ix.chunk_size);
    if (Status h = holes_until(chunk); !h) return h;
    next = chunk + 1;
    if (Status w = sink->write(offset, bytes); !w) return w;
    return sink->poll();
  });
  if (s) s = holes_until(ix.chunks.size());
  if (s) s = sink->commit();
  if (!s) sink->abandon();
  return s;
}

}  // namespace

std::string describe_format(uint8_t format) {
  std::string d = (format & control::kObjectFormatTree) ? "a directory tree" : "a file";
  if (format & control::kObjectFormatZstd) d += ", zstd-compressed";
  return d;
}

Result<ObjectSource> open_object(const std::string& path, const std::string& compress,
                                 const std::string& spool, ObjectFormatInfo& info) {
  info = {};
  std::optional<int> level;
  if (!compress.empty()) {
    auto l = parse_compress_option(compress);
    if (!l) return make_error(l.error());
    level = *l;
  }
  std::error_code ec;
  const bool from_stdin = path == "-";
  const bool tree = !from_stdin && fs::is_directory(path, ec);
  if (!tree && !level && !from_stdin) {
    auto src = ObjectSource::open(path);
    if (src) info.content_bytes = src->size();
    return src;
  }
  const std::string dir = spool_dir(spool);
  std::optional<SpoolFile> spooled;  // a packed tree, or stdin
  std::optional<ObjectSource> content;
  if (from_stdin) {
    auto f = SpoolFile::create(dir);
    if (!f) return make_error(f.error());
    const uint64_t t0 = monotonic_ns();
    auto n = spool_stdin(*f);
    if (!n) return make_error(n.error());
    spdlog::info("read {} from stdin into {} in {:.1f}s", format_bytes(double(*n)), f->label(),
                 double(monotonic_ns() - t0) / 1e9);
    auto m = f->map();
    if (!m) return make_error(m.error());
    content.emplace(std::move(*m));
    spooled.emplace(std::move(*f));
  } else if (tree) {
    auto f = SpoolFile::create(dir);
    if (!f) return make_error(f.error());
    const uint64_t t0 = monotonic_ns();
    auto st = pack_tree(path, f->fd(), f->label());
    if (!st) return make_error(st.error());
    spdlog::info("packed '{}': {} directories, {} files ({}), {} symlinks into {} in {:.1f}s", path,
                 st->dirs, st->files, format_bytes(double(st->data_bytes)), st->symlinks,
                 format_bytes(double(st->packed_bytes)), double(monotonic_ns() - t0) / 1e9);
    info.format |= control::kObjectFormatTree;
    auto m = f->map();
    if (!m) return make_error(m.error());
    content.emplace(std::move(*m));
    spooled.emplace(std::move(*f));
  } else {
    auto m = ObjectSource::open(path);
    if (!m) return make_error(m.error());
    content.emplace(std::move(*m));
  }
  info.content_bytes = content->size();
  if (!level) return std::move(*content);
  auto z = SpoolFile::create(dir);
  if (!z) return make_error(z.error());
  const uint64_t t0 = monotonic_ns();
  // Holes of a sparse source are found without reading them (a packed tree has none).
  Fd holes(spooled ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto st = compress_chunks(content->bytes(), z->fd(), z->label(), *level, kDefaultChunkSize,
                            holes.get());
  if (!st) return make_error(st.error());
  spdlog::info(
      "compressed {} to {} (zstd level {}, {} chunks of {}, {} holes, {} stored raw) in {:.1f}s",
      format_bytes(double(st->original_bytes)), format_bytes(double(st->packed_bytes)), *level,
      st->chunks, format_bytes(double(kDefaultChunkSize)), st->holes, st->raw,
      double(monotonic_ns() - t0) / 1e9);
  info.format |= control::kObjectFormatZstd;
  return z->map();
}

uint64_t finish_allowance_ns(const ObjectFormatInfo& info) {
  if (info.format == 0) return 0;
  return 10'000'000'000 + info.content_bytes / 50 * 1000;  // 50 MB/s = 50 bytes per microsecond
}

Result<std::string> received_object_path(const std::string& out_arg, uint8_t format,
                                         const std::string& spool, const std::string& state_dir,
                                         bool force) {
  if (format == 0) return out_arg;
  if ((format & ~kSupportedObjectFormats) != 0) {
    char bits[8];
    std::snprintf(bits, sizeof bits, "0x%02x", format & ~kSupportedObjectFormats);
    return make_error(std::string("the sender sends an object format (bits ") + bits +
                      ") this receiver cannot read; it reads trees and zstd: upgrade shoal on "
                      "this receiver");
  }
  if (out_arg.size() > 1 && out_arg.back() == '/') {  // "into DIR/" must never mean "replace DIR"
    return make_error("--out '" + out_arg + "' ends with '/': name the destination itself, e.g. " +
                      out_arg + "NAME");
  }
  const std::string& out = out_arg;
  const bool device = is_block_device(out);
  if (format & control::kObjectFormatTree) {
    if (device)
      return make_error("the sender sends a directory tree, but --out '" + out +
                        "' is a block device");
    struct stat st {};
    if (::lstat(out.c_str(), &st) == 0 && !force) {
      return make_error("the sender sends a directory tree and '" + out +
                        "' already exists: choose another --out, or pass --force to replace it");
    }
  }
  std::string dir = !spool.empty() ? spool : device ? state_dir : dir_of(out);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec)) return make_error("spool directory '" + dir + "' does not exist");
  return (fs::path(dir) / ("." + fs::path(out).filename().string() + ".shoal-packed")).string();
}

Status finish_object(const std::string& packed, const std::string& out_arg, uint8_t format,
                     const FinishOptions& o) {
  if (format == 0) return {};
  const std::string& out = out_arg;
  const uint64_t t0 = monotonic_ns();
  Status result = [&]() -> Status {
    auto src = ObjectSource::open(packed);
    if (!src) return make_error(src.error());
    std::optional<SpoolFile> expanded;  // a compressed tree, decompressed
    std::optional<ObjectSource> tree_bytes;
    if (format & control::kObjectFormatZstd) {
      auto ix = parse_chunk_index(src->bytes());
      if (!ix) return make_error(ix.error());
      if (!(format & control::kObjectFormatTree)) {
        return is_block_device(out) ? decompress_to_device(src->bytes(), *ix, out, o)
                                    : decompress_to_file(src->bytes(), *ix, out);
      }
      const std::string dir = dir_of(packed);
      if (Status s = check_free_space(dir, ix->data_bytes(), "the decompressed tree"); !s) return s;
      auto f = SpoolFile::create(dir);
      if (!f) return make_error(f.error());
      const int fd = f->fd();
      Status s = decode_chunks(src->bytes(), *ix, [&](uint64_t off, std::span<const uint8_t> b) {
        return write_sparse(fd, off, b, "the decompressed tree");
      });
      if (!s) return s;
      if (::ftruncate(fd, static_cast<off_t>(ix->original_size)) != 0) {
        return make_error(std::string("cannot size the decompressed tree: ") +
                          std::strerror(errno));
      }
      auto m = f->map();
      if (!m) return make_error(m.error());
      tree_bytes.emplace(std::move(*m));
      expanded.emplace(std::move(*f));
    }
    const std::span<const uint8_t> bytes = tree_bytes ? tree_bytes->bytes() : src->bytes();
    auto st = unpack_tree(bytes, out, o.force);
    if (!st) return make_error(st.error());
    spdlog::info("unpacked {} directories, {} files ({}), {} symlinks into {}", st->dirs, st->files,
                 format_bytes(double(st->data_bytes)), st->symlinks, out);
    if (st->special_bits_dropped > 0) {
      spdlog::warn("{} entries had setuid/setgid/sticky bits; they were not applied",
                   st->special_bits_dropped);
    }
    return {};
  }();
  ::unlink(packed.c_str());
  if (result) {
    spdlog::info("{} written to {} in {:.1f}s", describe_format(format), out,
                 double(monotonic_ns() - t0) / 1e9);
  }
  return result;
}

}  // namespace shoal::object
