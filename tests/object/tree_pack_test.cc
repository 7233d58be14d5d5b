// The packed-tree format and the packer/unpacker: a round trip keeps types, contents, modes,
// symlink targets, empty directories and mtimes; hostile tables are refused before anything is
// created; an existing destination is kept unless forced.
#include "object/tree_pack.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "object/tree_format.h"

namespace shoal::object {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char t[] = "/tmp/shoal-tree-test.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { remove_tree(path.string()); }
};

void write_file(const fs::path& p, const std::string& content, mode_t mode) {
  std::ofstream(p, std::ios::binary) << content;
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// What a tree holds, per relative path: type, mode, size, mtime, content or target.
std::map<std::string, std::string> describe(const fs::path& root) {
  std::map<std::string, std::string> out;
  auto add = [&](const fs::path& p, const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    std::string d = std::to_string(st.st_mode & S_IFMT) + " " + std::to_string(st.st_mtim.tv_sec) +
                    "." + std::to_string(st.st_mtim.tv_nsec);
    if (S_ISLNK(st.st_mode)) {
      d += " -> " + fs::read_symlink(p).string();
    } else {
      d += " mode " + std::to_string(st.st_mode & 07777);
      if (S_ISREG(st.st_mode)) d += " size " + std::to_string(st.st_size) + " " + read_all(p);
    }
    out[rel] = d;
  };
  add(root, ".");
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    add(it->path(), fs::relative(it->path(), root).string());
  }
  return out;
}

std::vector<uint8_t> pack(const fs::path& dir, PackStats* stats = nullptr) {
  FILE* f = std::tmpfile();
  EXPECT_NE(f, nullptr);
  auto st = pack_tree(dir.string(), fileno(f), "test spool");
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error());
  std::vector<uint8_t> bytes;
  if (st.ok()) {
    if (stats != nullptr) *stats = *st;
    bytes.resize(st->packed_bytes);
    EXPECT_EQ(::pread(fileno(f), bytes.data(), bytes.size(), 0), ssize_t(bytes.size()));
  }
  std::fclose(f);
  return bytes;
}

// A tree with every kind of entry the format carries.
void make_sample_tree(const fs::path& src) {
  fs::create_directories(src / "etc/ssh");
  fs::create_directories(src / "empty");
  fs::create_directories(src / "ro");
  write_file(src / "etc/ssh/sshd_config", "PermitRootLogin no\n", 0600);
  write_file(src / "run.sh", "#!/bin/sh\necho hi\n", 0755);
  write_file(src / "readonly.txt", "ro", 0444);
  write_file(src / "zero-length", "", 0644);
  write_file(src / "name with spaces", random_bytes(100'000, 1), 0640);
  write_file(src / "ro/inside", "x", 0644);
  ASSERT_EQ(::chmod((src / "ro").c_str(), 0555), 0);
  // Mostly zeros: the unpacked copy must stay sparse.
  std::string sparse(1 << 20, '\0');
  sparse.replace(300'000, 5, "hello");
  write_file(src / "sparse.img", sparse, 0644);
  fs::create_symlink("etc/ssh/sshd_config", src / "rel-link");
  fs::create_symlink("/etc/passwd", src / "abs-link");
  fs::create_symlink("../../outside", src / "etc/dangling");
  fs::create_directory_symlink("etc", src / "dir-link");
  ASSERT_EQ(::chmod(src.c_str(), 0750), 0);
  // A distinct mtime on a directory, a file and a symlink (set last: children change a dir's).
  const struct timespec t[2] = {{1'600'000'000, 123'456'789}, {1'600'000'000, 123'456'789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src / "run.sh").c_str(), t, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (src / "rel-link").c_str(), t, AT_SYMLINK_NOFOLLOW), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (src / "etc").c_str(), t, 0), 0);
}

TEST(TreePack, RoundTripKeepsTypesModesTargetsEmptyDirsAndTimes) {
  TempDir d;
  const fs::path src = d.path / "src", dest = d.path / "dest";
  make_sample_tree(src);
  PackStats ps;
  std::vector<uint8_t> object = pack(src, &ps);
  EXPECT_EQ(ps.files, 7u);
  EXPECT_EQ(ps.dirs, 4u);
  EXPECT_EQ(ps.symlinks, 4u);
  auto parsed = parse_tree_table(object);
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->entries.size(), 15u);

  auto st = unpack_tree(object, dest.string(), false);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(st->files, 7u);
  EXPECT_EQ(st->symlinks, 4u);
  EXPECT_EQ(describe(dest), describe(src));
  EXPECT_FALSE(fs::exists(tree_part_path(dest.string())));
  struct stat sp {};
  ASSERT_EQ(::stat((dest / "sparse.img").c_str(), &sp), 0);
  EXPECT_LT(sp.st_blocks * 512, 1 << 20) << "zero runs were written out, not left as holes";
}

TEST(TreePack, SkipsSpecialFilesAndCountsHardLinks) {
  TempDir d;
  const fs::path src = d.path / "src";
  fs::create_directories(src);
  write_file(src / "a", "same", 0644);
  fs::create_hard_link(src / "a", src / "b");
  ASSERT_EQ(::mkfifo((src / "fifo").c_str(), 0644), 0);
  PackStats ps;
  std::vector<uint8_t> object = pack(src, &ps);
  EXPECT_EQ(ps.skipped, 1u);
  EXPECT_EQ(ps.hard_links, 2u);
  auto st = unpack_tree(object, (d.path / "dest").string(), false);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(read_all(d.path / "dest/b"), "same");
  EXPECT_FALSE(fs::exists(fs::symlink_status(d.path / "dest/fifo")));
}

TEST(TreePack, ExistingDestinationIsKeptUnlessForced) {
  TempDir d;
  const fs::path src = d.path / "src", dest = d.path / "dest";
  fs::create_directories(src);
  write_file(src / "new", "new", 0644);
  fs::create_directories(dest / "old-ro");
  write_file(dest / "old-ro/old", "old", 0644);
  ASSERT_EQ(::chmod((dest / "old-ro").c_str(), 0555), 0);
  std::vector<uint8_t> object = pack(src);

  auto refused = unpack_tree(object, dest.string(), false);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("--force"), std::string::npos) << refused.error();
  EXPECT_EQ(read_all(dest / "old-ro/old"), "old");
  EXPECT_FALSE(fs::exists(tree_part_path(dest.string())));

  auto forced = unpack_tree(object, dest.string(), true);
  ASSERT_TRUE(forced.ok()) << forced.error();
  EXPECT_EQ(read_all(dest / "new"), "new");
  EXPECT_FALSE(fs::exists(dest / "old-ro"));
  EXPECT_FALSE(fs::exists(tree_part_path(dest.string())));
}

// --- hostile tables: built by hand, refused by the parser and by unpack_tree ---

TreeEntry dir(const std::string& path) {
  TreeEntry e;
  e.type = TreeEntryType::kDirectory;
  e.path = path;
  e.mode = 0755;
  return e;
}
TreeEntry file(const std::string& path, uint64_t size) {
  TreeEntry e;
  e.type = TreeEntryType::kFile;
  e.path = path;
  e.mode = 0644;
  e.size = size;
  return e;
}
TreeEntry link(const std::string& path, const std::string& target) {
  TreeEntry e;
  e.type = TreeEntryType::kSymlink;
  e.path = path;
  e.mode = 0777;
  e.target = target;
  return e;
}

// Encodes `t` with file data offsets laid out as a packer would, and `data_byte` bytes of data.
std::vector<uint8_t> build(TreeTable t) {
  uint64_t at = tree_table_size(t);
  for (TreeEntry& e : t.entries) {
    if (e.type == TreeEntryType::kFile) {
      e.data_offset = at;
      at += e.size;
    }
  }
  std::vector<uint8_t> out = encode_tree_table(t);
  out.resize(at, 'x');
  return out;
}

void expect_refused(const std::vector<TreeEntry>& entries, const std::string& why) {
  TreeTable t;
  t.entries = entries;
  std::vector<uint8_t> object = build(t);
  auto parsed = parse_tree_table(object);
  ASSERT_FALSE(parsed.ok()) << "accepted a table that should fail with: " << why;
  EXPECT_NE(parsed.error().find(why), std::string::npos) << parsed.error();

  TempDir d;
  const fs::path dest = d.path / "box/dest";
  fs::create_directories(d.path / "box");
  auto st = unpack_tree(object, dest.string(), false);
  ASSERT_FALSE(st.ok());
  // Nothing was created: not the destination, not its temporary, nothing beside or above it.
  EXPECT_TRUE(fs::is_empty(d.path / "box"));
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()), 1);
}

TEST(TreeFormat, RefusesHostileEntries) {
  expect_refused({file("../x", 1)}, "'..' component");
  expect_refused({dir("a"), file("a/../../x", 1)}, "'..' component");
  expect_refused({file("/etc/x", 1)}, "absolute path");
  expect_refused({file("a//b", 1)}, "empty path component");
  expect_refused({file("a/", 1)}, "empty path component");
  expect_refused({file("./x", 1)}, "'.' component");
  expect_refused({file("", 1)}, "empty path");
  expect_refused({file(std::string("a\0b", 3), 1)}, "NUL byte");
  expect_refused({file(std::string(256, 'n'), 1)}, "component of 256 bytes");
  expect_refused({file("x", 1), file("x", 1)}, "appears twice");
  expect_refused({dir("d"), dir("d")}, "appears twice");
  // A symlink, then an entry through it: would write wherever the link points.
  expect_refused({link("s", "/etc"), file("s/passwd", 1)}, "parent is a symlink");
  expect_refused({file("f", 1), file("f/x", 1)}, "parent is a file");
  expect_refused({file("d/x", 1), dir("d")}, "not an earlier directory entry");
  expect_refused({link("s", "")}, "bad symlink target length");
  expect_refused({link("s", std::string("a\0b", 3))}, "NUL byte in symlink target");
  TreeEntry odd = dir("d");
  odd.target = "x";
  expect_refused({odd}, "only symlinks have a target");
  TreeEntry suid = file("x", 1);
  suid.mode = 010000;
  expect_refused({suid}, "bits outside 07777");
  TreeEntry late = file("x", 1);
  late.mtime.nsec = 1'000'000'000;
  expect_refused({late}, "nanoseconds");
}

TEST(TreeFormat, RefusesLayoutErrors) {
  TreeTable t;
  t.entries = {dir("d"), file("d/a", 10), file("b", 5), link("l", "d/a")};
  std::vector<uint8_t> good = build(t);
  ASSERT_TRUE(parse_tree_table(good).ok());

  // Every truncation: a cut-off header, table or file data.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(parse_tree_table(std::span(good).first(n)).ok()) << "accepted a prefix of " << n;
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  auto extra = parse_tree_table(longer);
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.error().find("belong to no entry"), std::string::npos) << extra.error();

  auto mutated = [&](size_t offset, uint8_t value) {
    std::vector<uint8_t> b = good;
    b[offset] = value;
    return parse_tree_table(b);
  };
  EXPECT_FALSE(mutated(0, 'X').ok());                  // magic
  EXPECT_FALSE(mutated(9, 2).ok());                    // version 2
  EXPECT_FALSE(mutated(11, 1).ok());                   // flags
  EXPECT_FALSE(mutated(31, 9).ok());                   // entry count beyond the table
  EXPECT_FALSE(mutated(kTreeHeaderSize, 4).ok());      // type 4
  EXPECT_FALSE(mutated(kTreeHeaderSize + 1, 1).ok());  // reserved byte

  // A file whose data overlaps the next one's, or a directory that claims data.
  TreeTable overlap = t;
  std::vector<uint8_t> b = build(overlap);
  auto parsed = parse_tree_table(b);
  ASSERT_TRUE(parsed.ok());
  overlap.entries = parsed->entries;
  overlap.entries[2].data_offset -= 1;
  std::vector<uint8_t> bad = encode_tree_table(overlap);
  bad.resize(b.size(), 'x');
  EXPECT_FALSE(parse_tree_table(bad).ok());
  TreeTable fat = t;
  fat.entries[0].size = 1;
  EXPECT_FALSE(parse_tree_table(build(fat)).ok());
}

}  // namespace
}  // namespace shoal::object
