// A cache of manifests (every block's SHA-256 and the whole object's) of regular files, so a repeat
// send of an unchanged object starts without reading it all first: a fleet rolled out in waves
// starts each wave at once (issue #14 item 2).
//
// An entry is keyed by the file's identity and state -- device, inode, size, modification and
// change time (ns) -- and by the block layout (symbol size, k); any difference is a miss. The
// change time cannot be set by a user, so a file rewritten in place and given its old mtime back
// is a miss too. Entries are written to a temporary name and renamed, never trusted half-written
// (a short or malformed file is a miss). The cache never decides what a receiver accepts: a stale
// entry could only make receivers refuse blocks (each is checked against its hash), never take
// wrong data. Block devices are never cached: writes through them change no time stamp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "fec/layout.h"
#include "object/manifest.h"

namespace shoal::object {

struct FileIdentity {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

class ManifestCache {
 public:
  // At most this many entries are kept; storing one more removes the least recently used.
  static constexpr size_t kMaxEntries = 32;

  // The cache directory: $SHOAL_CACHE_DIR, else $XDG_CACHE_HOME/shoal, else ~/.cache/shoal, else
  // /var/cache/shoal (root without a home), each + "/manifests".
  static std::string default_dir();

  explicit ManifestCache(std::string dir) : dir_(std::move(dir)) {}

  // The identity of the regular file open as `fd` (nullopt for anything else: not cacheable).
  static std::optional<FileIdentity> identify(int fd);

  // The cached manifest of that file at that layout, or nullopt (a miss: none, stale, or
  // unreadable).
  std::optional<Manifest> load(const FileIdentity& id, const fec::BlockLayout& layout) const;
  // Stores it (creating the directory, mode 0700). An error says why; the caller only warns.
  Status store(const FileIdentity& id, const fec::BlockLayout& layout, const Manifest& m) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string path_of(const FileIdentity& id, const fec::BlockLayout& layout) const;
  std::string dir_;
};

}  // namespace shoal::object
