#include "object/manifest_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>
#include <vector>

#include "common/byte_codec.h"
#include "common/event_log.h"
#include "common/fd.h"

namespace shoal::object {

namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'S', 'H', 'O', 'A', 'L', 'M', 'C', '1'};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

// The key's fields, in the order the file stores them (and its name hashes).
void put_key(ByteWriter& w, const FileIdentity& id, const fec::BlockLayout& layout) {
  w.u64(id.dev);
  w.u64(id.ino);
  w.u64(id.size);
  w.u64(static_cast<uint64_t>(id.mtime_ns));
  w.u64(static_cast<uint64_t>(id.ctime_ns));
  w.u32(layout.symbol_size());
  w.u32(layout.k());
  w.u32(layout.block_count());
}

Status write_all(int fd, std::span<const uint8_t> data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(std::strerror(n < 0 ? errno : EIO));
    data = data.subspan(static_cast<size_t>(n));
  }
  return {};
}

// Keeps the kMaxEntries most recently used entries (by modification time; a hit touches it).
void evict(const std::string& dir, size_t keep) {
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".manifest") continue;
    entries.emplace_back(e.last_write_time(ec), e.path());
  }
  if (entries.size() <= keep) return;
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = keep; i < entries.size(); ++i) fs::remove(entries[i].second, ec);
}

}  // namespace

std::string ManifestCache::default_dir() {
  if (std::string d = env("SHOAL_CACHE_DIR"); !d.empty()) return d + "/manifests";
  if (std::string d = env("XDG_CACHE_HOME"); !d.empty()) return d + "/shoal/manifests";
  if (std::string d = env("HOME"); !d.empty() && d != "/") return d + "/.cache/shoal/manifests";
  return "/var/cache/shoal/manifests";
}

std::optional<FileIdentity> ManifestCache::identify(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
  return id;
}

std::string ManifestCache::path_of(const FileIdentity& id, const fec::BlockLayout& layout) const {
  std::vector<uint8_t> key;
  ByteWriter w(key);
  put_key(w, id, layout);
  const Digest d = sha256(key);
  return dir_ + "/" + to_hex(std::span(d).first(16)) + ".manifest";
}

std::optional<Manifest> ManifestCache::load(const FileIdentity& id,
                                            const fec::BlockLayout& layout) const {
  const std::string path = path_of(id, layout);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return std::nullopt;
  std::vector<uint8_t> key;
  ByteWriter kw(key);
  put_key(kw, id, layout);
  const size_t size = sizeof kMagic + key.size() + size_t{layout.block_count() + 1} * 32 + 32;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) != size) {
    return std::nullopt;
  }
  std::vector<uint8_t> bytes(size);
  size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd.get(), bytes.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    got += static_cast<size_t>(n);
  }
  // Magic, the same key, and the trailing digest over everything before it.
  const std::span<const uint8_t> all(bytes);
  if (std::memcmp(all.data(), kMagic, sizeof kMagic) != 0 ||
      !std::equal(key.begin(), key.end(), all.begin() + sizeof kMagic)) {
    return std::nullopt;
  }
  const Digest check = sha256(all.first(size - 32));
  if (!std::equal(check.begin(), check.end(), all.end() - 32)) return std::nullopt;
  Manifest m;
  size_t at = sizeof kMagic + key.size();
  std::copy_n(all.begin() + static_cast<ptrdiff_t>(at), 32, m.object_sha256.begin());
  at += 32;
  m.block_sha256.resize(layout.block_count());
  for (Digest& d : m.block_sha256) {
    std::copy_n(all.begin() + static_cast<ptrdiff_t>(at), 32, d.begin());
    at += 32;
  }
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, AT_SYMLINK_NOFOLLOW);  // recently used
  return m;
}

Status ManifestCache::store(const FileIdentity& id, const fec::BlockLayout& layout,
                            const Manifest& m) const {
  if (m.block_sha256.size() != layout.block_count()) {
    return make_error("internal: manifest of " + std::to_string(m.block_sha256.size()) +
                      " blocks for a layout of " + std::to_string(layout.block_count()));
  }
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return make_error("cannot create " + dir_ + ": " + ec.message());
  ::chmod(dir_.c_str(), 0700);
  std::vector<uint8_t> bytes(kMagic, kMagic + sizeof kMagic);
  ByteWriter w(bytes);
  put_key(w, id, layout);
  w.bytes(m.object_sha256);
  for (const Digest& d : m.block_sha256) w.bytes(d);
  const Digest check = sha256(bytes);
  w.bytes(check);

  const std::string path = path_of(id, layout);
  const std::string tmp = path + ".tmp" + std::to_string(std::random_device{}());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return make_error("cannot create " + tmp + ": " + std::strerror(errno));
  Status s = write_all(fd.get(), bytes);
  if (s && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = make_error("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  if (!s) {
    ::unlink(tmp.c_str());
    return make_error("cannot write " + tmp + ": " + s.error());
  }
  evict(dir_, kMaxEntries);
  return {};
}

}  // namespace shoal::object
