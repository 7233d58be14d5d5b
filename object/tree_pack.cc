#include "object/tree_pack.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "object/sparse_file.h"

namespace shoal::object {

namespace {

constexpr size_t kCopyBuffer = size_t{1} << 20;
constexpr int kMaxSkipWarnings = 20;

std::string errno_text(int e) {
  return std::strerror(e);
}

TreeTime time_of(const struct timespec& ts) {
  return {static_cast<int64_t>(ts.tv_sec), static_cast<uint32_t>(ts.tv_nsec)};
}

struct timespec timespec_of(const TreeTime& t) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(t.sec);
  ts.tv_nsec = static_cast<long>(t.nsec);
  return ts;
}

// Closes a descriptor when it goes out of scope.
struct FdGuard {
  int fd = -1;
  explicit FdGuard(int f) : fd(f) {}
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
};

class Walker {
 public:
  Walker(TreeTable& t, std::vector<std::string>& sources, PackStats& st)
      : table_(t), sources_(sources), st_(st) {}

  // Adds the entries below `abs` (whose relative path is `rel`, "" for the root).
  Status walk(const std::string& abs, const std::string& rel) {
    DIR* d = ::opendir(abs.c_str());
    if (d == nullptr)
      return make_error("cannot read directory '" + abs + "': " + errno_text(errno));
    std::vector<std::string> names;
    errno = 0;
    while (dirent* de = ::readdir(d)) {
      std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    const int e = errno;
    ::closedir(d);
    if (e != 0) return make_error("cannot read directory '" + abs + "': " + errno_text(e));
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      const std::string child_abs = abs + "/" + n;
      const std::string child_rel = rel.empty() ? n : rel + "/" + n;
      struct stat st {};
      if (::lstat(child_abs.c_str(), &st) != 0) {
        return make_error("cannot stat '" + child_abs + "': " + errno_text(errno));
      }
      const bool kept = S_ISDIR(st.st_mode) || S_ISREG(st.st_mode) || S_ISLNK(st.st_mode);
      if (!kept) {
        if (++st_.skipped <= kMaxSkipWarnings) {
          spdlog::warn("skipping '{}': special files (devices, FIFOs, sockets) are not sent",
                       child_abs);
        }
        continue;
      }
      if (std::string why = tree_path_problem(child_rel); !why.empty()) {
        return make_error("cannot send '" + child_abs + "': " + why);
      }
      TreeEntry en;
      en.path = child_rel;
      en.mode = static_cast<uint32_t>(st.st_mode) & kTreeModeMask;
      en.mtime = time_of(st.st_mtim);
      if (S_ISDIR(st.st_mode)) {
        en.type = TreeEntryType::kDirectory;
        table_.entries.push_back(std::move(en));
        ++st_.dirs;
        Status s = walk(child_abs, child_rel);
        if (!s) return s;
      } else if (S_ISREG(st.st_mode)) {
        en.type = TreeEntryType::kFile;
        en.size = static_cast<uint64_t>(st.st_size);
        if (st.st_nlink > 1) ++st_.hard_links;
        table_.entries.push_back(std::move(en));
        sources_.push_back(child_abs);
        ++st_.files;
        st_.data_bytes += static_cast<uint64_t>(st.st_size);
      } else {
        std::vector<char> buf(kTreeMaxTarget + 2);
        ssize_t len = ::readlink(child_abs.c_str(), buf.data(), buf.size());
        if (len < 0)
          return make_error("cannot read symlink '" + child_abs + "': " + errno_text(errno));
        if (len == 0 || static_cast<size_t>(len) > kTreeMaxTarget) {
          return make_error("cannot send symlink '" + child_abs + "': target of " +
                            std::to_string(len) + " bytes (1.." + std::to_string(kTreeMaxTarget) +
                            " allowed)");
        }
        en.type = TreeEntryType::kSymlink;
        en.mode = 0777;
        en.target.assign(buf.data(), static_cast<size_t>(len));
        table_.entries.push_back(std::move(en));
        ++st_.symlinks;
      }
    }
    return {};
  }

 private:
  TreeTable& table_;
  std::vector<std::string>& sources_;
  PackStats& st_;
};

// Copies exactly `size` bytes of `path` to `fd` at `offset`, leaving zero runs as holes.
Status copy_file(const std::string& path, uint64_t size, int fd, uint64_t offset,
                 const std::string& label, std::vector<uint8_t>& buf) {
  FdGuard in(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (in.fd < 0) return make_error("cannot open '" + path + "': " + errno_text(errno));
  struct stat st {};
  if (::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) != size) {
    return make_error("'" + path + "' changed while the tree was being packed: send it again");
  }
  uint64_t done = 0;
  while (done < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    ssize_t n = ::read(in.fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error("cannot read '" + path + "': " + errno_text(errno));
    if (n == 0)
      return make_error("'" + path + "' shrank while the tree was being packed: send it again");
    Status w = write_sparse(fd, offset + done, {buf.data(), static_cast<size_t>(n)}, label);
    if (!w) return w;
    done += static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace

Result<PackStats> pack_tree(const std::string& dir, int fd, const std::string& label) {
  struct stat root {};
  if (::stat(dir.c_str(), &root) != 0) {
    return make_error("cannot stat '" + dir + "': " + errno_text(errno));
  }
  if (!S_ISDIR(root.st_mode)) return make_error("'" + dir + "' is not a directory");
  TreeTable table;
  table.root_mode = static_cast<uint32_t>(root.st_mode) & kTreeModeMask;
  table.root_mtime = time_of(root.st_mtim);
  std::vector<std::string> sources;
  PackStats st;
  std::string base = dir;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  Walker w(table, sources, st);
  if (Status s = w.walk(base, ""); !s) return make_error(s.error());
  if (table.entries.size() > UINT32_MAX) return make_error("too many entries in '" + dir + "'");
  uint64_t at = tree_table_size(table);
  for (TreeEntry& e : table.entries) {
    if (e.type != TreeEntryType::kFile) continue;
    e.data_offset = at;
    at += e.size;
  }
  std::vector<uint8_t> head = encode_tree_table(table);
  if (Status s = write_all(fd, 0, head, label); !s) return make_error(s.error());
  std::vector<uint8_t> buf(kCopyBuffer);
  size_t next_source = 0;
  for (const TreeEntry& e : table.entries) {
    if (e.type != TreeEntryType::kFile) continue;
    Status s = copy_file(sources[next_source++], e.size, fd, e.data_offset, label, buf);
    if (!s) return make_error(s.error());
  }
  if (::ftruncate(fd, static_cast<off_t>(at)) != 0) {
    return make_error("cannot size '" + label + "': " + errno_text(errno));
  }
  if (st.skipped > static_cast<uint64_t>(kMaxSkipWarnings)) {
    spdlog::warn("skipped {} special files in all", st.skipped);
  }
  if (st.hard_links > 0) {
    spdlog::warn("{} files have more than one hard link: each name is sent as its own copy",
                 st.hard_links);
  }
  st.packed_bytes = at;
  return st;
}

std::string tree_part_path(const std::string& dest) {
  return dest + ".shoal-part.d";
}

namespace {

// Opens directory `name` (under `parent`) to empty it, never following a symlink put there
// since it was looked at, and makes it 0700 through that descriptor so its entries can go. A
// received tree may hold directories we may not read: those get their mode without following
// a symlink first.
int open_dir_for_removal(int parent, const char* name) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::openat(parent, name, kFlags);
  if (fd < 0 && errno == EACCES && ::fchmodat(parent, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
    fd = ::openat(parent, name, kFlags);
  if (fd >= 0) ::fchmod(fd, 0700);
  return fd;
}

// Children of the directory open as `dfd`, removed; the directory itself is left.
void remove_children(int dfd) {
  int dup = ::dup(dfd);
  if (dup < 0) return;
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return;
  }
  std::vector<std::string> names;
  while (dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  for (const std::string& n : names) {
    struct stat st {};
    if (::fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      int child = open_dir_for_removal(dfd, n.c_str());
      if (child >= 0) {
        remove_children(child);
        ::close(child);
      }
      ::unlinkat(dfd, n.c_str(), AT_REMOVEDIR);
    } else {
      ::unlinkat(dfd, n.c_str(), 0);
    }
  }
}

class Unpacker {
 public:
  Unpacker(std::span<const uint8_t> object, const TreeTable& table, int root)
      : object_(object), table_(table), root_(root) {}

  Result<UnpackStats> run() {
    std::vector<const TreeEntry*> links, dirs;
    for (const TreeEntry& e : table_.entries) {
      Status s;
      switch (e.type) {
        case TreeEntryType::kDirectory:
          // Writable while it fills; its own mode is applied at the end.
          if (::mkdirat(root_, e.path.c_str(), 0700) != 0) s = fail(e, "cannot create directory");
          dirs.push_back(&e);
          ++st_.dirs;
          break;
        case TreeEntryType::kFile:
          s = write_file(e);
          ++st_.files;
          break;
        case TreeEntryType::kSymlink:
          links.push_back(&e);  // last, so no later entry can be created through one
          break;
      }
      if (!s) return make_error(s.error());
    }
    for (const TreeEntry* e : links) {
      if (::symlinkat(e->target.c_str(), root_, e->path.c_str()) != 0) {
        return make_error(fail(*e, "cannot create symlink").error());
      }
      set_time(*e, AT_SYMLINK_NOFOLLOW);
      ++st_.symlinks;
    }
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {  // deepest first
      if (::fchmodat(root_, (*it)->path.c_str(), mode_of(**it), 0) != 0) {
        return make_error(fail(**it, "cannot set the mode of").error());
      }
      set_time(**it, 0);
    }
    const uint32_t root_mode = table_.root_mode;
    if ((root_mode & ~0777u) != 0) ++st_.special_bits_dropped;
    if (::fchmod(root_, root_mode & 0777) != 0) {
      return make_error("cannot set the mode of the tree's top directory: " + errno_text(errno));
    }
    const struct timespec times[2] = {timespec_of(table_.root_mtime),
                                      timespec_of(table_.root_mtime)};
    ::futimens(root_, times);
    return st_;
  }

 private:
  uint32_t mode_of(const TreeEntry& e) {
    if ((e.mode & ~0777u) != 0) ++st_.special_bits_dropped;
    return e.mode & 0777;
  }

  Status fail(const TreeEntry& e, const std::string& what) {
    const int err = errno;
    return make_error(what + " '" + e.path + "' in the received tree: " + errno_text(err));
  }

  void set_time(const TreeEntry& e, int flags) {
    const struct timespec times[2] = {timespec_of(e.mtime), timespec_of(e.mtime)};
    ::utimensat(root_, e.path.c_str(), times, flags);  // best effort: times are informative
  }

  Status write_file(const TreeEntry& e) {
    // O_EXCL: never opens something that exists, so never follows a symlink.
    FdGuard f(::openat(root_, e.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0600));
    if (f.fd < 0) return fail(e, "cannot create file");
    Status w = write_sparse(f.fd, 0, object_.subspan(e.data_offset, e.size), e.path);
    if (!w) return w;
    if (::ftruncate(f.fd, static_cast<off_t>(e.size)) != 0) return fail(e, "cannot size");
    if (::fchmod(f.fd, mode_of(e)) != 0) return fail(e, "cannot set the mode of");
    const struct timespec times[2] = {timespec_of(e.mtime), timespec_of(e.mtime)};
    ::futimens(f.fd, times);
    st_.data_bytes += e.size;
    return {};
  }

  std::span<const uint8_t> object_;
  const TreeTable& table_;
  int root_;
  UnpackStats st_;
};

void fsync_dir(const std::string& dir) {
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISDIR(st.st_mode)) {
    ::unlink(path.c_str());
    return;
  }
  int dfd = open_dir_for_removal(AT_FDCWD, path.c_str());
  if (dfd >= 0) {
    remove_children(dfd);
    ::close(dfd);
  }
  ::rmdir(path.c_str());
}

Result<UnpackStats> unpack_tree(std::span<const uint8_t> object, const std::string& dest,
                                bool force) {
  auto table = parse_tree_table(object);
  if (!table) return make_error(table.error());
  struct stat st {};
  const bool exists = ::lstat(dest.c_str(), &st) == 0;
  if (exists && !force) {
    return make_error("'" + dest +
                      "' already exists: choose another --out, or pass --force to replace it");
  }
  std::filesystem::path parent = std::filesystem::path(dest).parent_path();
  const std::string parent_dir = parent.empty() ? "." : parent.string();
  uint64_t data = 0;
  for (const TreeEntry& e : table->entries) data += e.size;
  if (Status s = check_free_space(parent_dir, data, "the tree"); !s) return make_error(s.error());

  const std::string part = tree_part_path(dest);
  remove_tree(part);  // a stale one from an interrupted run
  if (::mkdir(part.c_str(), 0700) != 0) {
    return make_error("cannot create '" + part + "': " + errno_text(errno));
  }
  Result<UnpackStats> done = make_error("not unpacked");
  {
    FdGuard root(::open(part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (root.fd < 0) {
      done = make_error("cannot open '" + part + "': " + errno_text(errno));
    } else {
      done = Unpacker(object, *table, root.fd).run();
      if (done && ::syncfs(root.fd) != 0) {
        done = make_error("cannot flush '" + part + "' to disk: " + errno_text(errno));
      }
    }
  }
  if (!done) {
    remove_tree(part);
    return done;
  }
  // Never replaces anything unless --force; with it, swaps atomically and removes the old tree.
  if (::renameat2(AT_FDCWD, part.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0) {
    const int e = errno;
    bool moved = false;
    if (e == EEXIST && force) {
      if (::renameat2(AT_FDCWD, part.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0) {
        moved = true;
        remove_tree(part);  // now the old tree
      }
    } else if (e == EINVAL && !exists) {  // a filesystem without renameat2 flags
      moved = ::rename(part.c_str(), dest.c_str()) == 0;
    }
    if (!moved) {
      const int e2 = errno;
      remove_tree(part);
      if (e == EEXIST && !force) {
        return make_error("'" + dest +
                          "' appeared while the tree was unpacked: choose another --out, or pass "
                          "--force to replace it");
      }
      return make_error("cannot rename '" + part + "' to '" + dest +
                        "': " + errno_text(e == EEXIST ? e2 : e));
    }
  }
  fsync_dir(parent_dir);
  return done;
}

}  // namespace shoal::object
