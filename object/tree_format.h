// The packed-tree format (Session.object_format bit kObjectFormatTree): a directory tree as one
// object, so one session, one manifest and one whole-object hash cover all of it. Layout (all
// integers big-endian; docs/protocol.md section 8.1 is the normative text):
//
//   header (40 bytes): magic "SHOALTRE", u16 version (1), u16 flags (0), u32 root_mode,
//                      i64 root_mtime_sec, u32 root_mtime_nsec, u32 entry_count, u64 table_bytes
//   table  (table_bytes): entry_count entries, each
//                      u8 type (1 dir, 2 file, 3 symlink), u8 reserved (0), u16 path_len,
//                      u32 mode, i64 mtime_sec, u32 mtime_nsec, u64 size, u64 data_offset,
//                      u16 target_len, path bytes, target bytes
//   data: the files' bytes, in table order, back to back; the object ends with the last file.
//
// parse_tree_table() is a pure function (no I/O, fuzzed by fuzz/object_format_fuzz.cc) and is
// the only way the unpacker sees a table: what it accepts is safe to create under a fresh
// directory in table order (see its contract).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::object {

inline constexpr char kTreeMagic[8] = {'S', 'H', 'O', 'A', 'L', 'T', 'R', 'E'};
inline constexpr uint16_t kTreeVersion = 1;
inline constexpr size_t kTreeHeaderSize = 40;
inline constexpr size_t kTreeEntryFixedSize = 38;  // an entry without its path and target
inline constexpr size_t kTreeMaxPath = 4095;       // bytes of a relative path
inline constexpr size_t kTreeMaxName = 255;        // bytes of one path component
inline constexpr size_t kTreeMaxTarget = 4095;     // bytes of a symlink target
inline constexpr uint32_t kTreeModeMask = 07777;   // permission, setuid/setgid and sticky bits

enum class TreeEntryType : uint8_t { kDirectory = 1, kFile = 2, kSymlink = 3 };

struct TreeTime {
  int64_t sec = 0;
  uint32_t nsec = 0;  // < 1e9
  bool operator==(const TreeTime&) const = default;
};

struct TreeEntry {
  TreeEntryType type = TreeEntryType::kFile;
  std::string path;          // relative, '/'-separated, e.g. "etc/ssh/sshd_config"
  uint32_t mode = 0;         // kTreeModeMask bits; ignored for symlinks
  TreeTime mtime;            // modification time
  uint64_t size = 0;         // file: bytes of data; 0 otherwise
  uint64_t data_offset = 0;  // file: where its data starts in the object; 0 otherwise
  std::string target;        // symlink: what it points to (any text; never followed); "" otherwise
  bool operator==(const TreeEntry&) const = default;
};

struct TreeTable {
  uint32_t root_mode = 0755;  // of the tree's top directory
  TreeTime root_mtime;
  std::vector<TreeEntry> entries;
  bool operator==(const TreeTable&) const = default;
};

// Bytes the header and the table of `table` take (where file data starts).
uint64_t tree_table_size(const TreeTable& table);

// Header and table exactly as given: no validation, so tests can build hostile tables. A packer
// sets every file's data_offset (tree_table_size() for the first, then back to back).
std::vector<uint8_t> encode_tree_table(const TreeTable& table);

// Parses the header and table at the start of `object` (the whole packed object) and checks
// everything an unpacker relies on; the error names the entry and the rule:
// - magic, version 1, flags 0; root_mode and modes within kTreeModeMask; nsec < 1e9;
// - table_bytes equals the entries' encoded size; entry_count fits the bytes present (checked
//   before allocating);
// - types 1..3, reserved byte 0; directories and symlinks have size 0 and data_offset 0;
// - paths: 1..kTreeMaxPath bytes, relative (no leading '/'), components non-empty, not "." or
//   "..", at most kTreeMaxName bytes, no NUL byte; no path appears twice;
// - every entry's parent is the root or a directory entry that comes earlier in the table (so a
//   path never passes through a symlink or a file, and parents are created before children);
// - symlink targets 1..kTreeMaxTarget bytes without NUL, other entries none;
// - file data back to back in table order from the end of the table, and the object ends exactly
//   where the last file's data does (no bytes outside a file, none shared).
Result<TreeTable> parse_tree_table(std::span<const uint8_t> object);

// Checks one relative path against the path rules above ("" when it is fine, else why not).
std::string tree_path_problem(std::string_view path);

}  // namespace shoal::object
