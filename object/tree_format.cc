#include "object/tree_format.h"

#include <cstring>
#include <string_view>
#include <unordered_map>

namespace shoal::object {

namespace {

void put(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t get(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

uint64_t entry_size(const TreeEntry& e) {
  return kTreeEntryFixedSize + e.path.size() + e.target.size();
}

std::string entry_name(size_t i, std::string_view path) {
  std::string shown(path.substr(0, 200));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return "entry " + std::to_string(i) + " '" + shown + "'";
}

}  // namespace

uint64_t tree_table_size(const TreeTable& table) {
  uint64_t n = kTreeHeaderSize;
  for (const TreeEntry& e : table.entries) n += entry_size(e);
  return n;
}

std::vector<uint8_t> encode_tree_table(const TreeTable& table) {
  std::vector<uint8_t> out;
  out.reserve(tree_table_size(table));
  for (char c : kTreeMagic) out.push_back(static_cast<uint8_t>(c));
  put(out, kTreeVersion, 2);
  put(out, 0, 2);
  put(out, table.root_mode, 4);
  put(out, static_cast<uint64_t>(table.root_mtime.sec), 8);
  put(out, table.root_mtime.nsec, 4);
  put(out, table.entries.size(), 4);
  put(out, tree_table_size(table) - kTreeHeaderSize, 8);
  for (const TreeEntry& e : table.entries) {
    out.push_back(static_cast<uint8_t>(e.type));
    out.push_back(0);
    put(out, e.path.size(), 2);
    put(out, e.mode, 4);
    put(out, static_cast<uint64_t>(e.mtime.sec), 8);
    put(out, e.mtime.nsec, 4);
    put(out, e.size, 8);
    put(out, e.data_offset, 8);
    put(out, e.target.size(), 2);
    out.insert(out.end(), e.path.begin(), e.path.end());
    out.insert(out.end(), e.target.begin(), e.target.end());
  }
  return out;
}

std::string tree_path_problem(std::string_view path) {
  if (path.empty()) return "empty path";
  if (path.size() > kTreeMaxPath) {
    return "path of " + std::to_string(path.size()) + " bytes (limit " +
           std::to_string(kTreeMaxPath) + ")";
  }
  if (path.front() == '/') return "absolute path";
  if (path.find('\0') != std::string_view::npos) return "NUL byte in path";
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    std::string_view part =
        path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (part.empty()) return "empty path component ('//' or a trailing '/')";
    if (part == "." || part == "..") return "'" + std::string(part) + "' component";
    if (part.size() > kTreeMaxName) {
      return "component of " + std::to_string(part.size()) + " bytes (limit " +
             std::to_string(kTreeMaxName) + ")";
    }
    if (slash == std::string_view::npos) return "";
    start = slash + 1;
  }
}

Result<TreeTable> parse_tree_table(std::span<const uint8_t> object) {
  auto bad = [](const std::string& why) { return make_error("packed tree: " + why); };
  if (object.size() < kTreeHeaderSize) {
    return bad("object of " + std::to_string(object.size()) + " bytes is shorter than the " +
               std::to_string(kTreeHeaderSize) + "-byte header");
  }
  const uint8_t* h = object.data();
  if (std::memcmp(h, kTreeMagic, sizeof kTreeMagic) != 0) return bad("wrong magic (not a tree)");
  const uint64_t version = get(h + 8, 2);
  if (version != kTreeVersion) {
    return bad("format version " + std::to_string(version) + ", this receiver reads version " +
               std::to_string(kTreeVersion));
  }
  if (get(h + 10, 2) != 0) return bad("unknown flags set");
  TreeTable t;
  t.root_mode = static_cast<uint32_t>(get(h + 12, 4));
  t.root_mtime.sec = static_cast<int64_t>(get(h + 16, 8));
  t.root_mtime.nsec = static_cast<uint32_t>(get(h + 24, 4));
  const uint64_t count = get(h + 28, 4);
  const uint64_t table_bytes = get(h + 32, 8);
  if ((t.root_mode & ~kTreeModeMask) != 0) return bad("root mode has bits outside 07777");
  if (t.root_mtime.nsec >= 1'000'000'000) return bad("root mtime nanoseconds >= 1e9");
  if (table_bytes > object.size() - kTreeHeaderSize) {
    return bad("table of " + std::to_string(table_bytes) + " bytes runs past the object's end");
  }
  if (count > table_bytes / kTreeEntryFixedSize) {
    return bad(std::to_string(count) + " entries cannot fit a table of " +
               std::to_string(table_bytes) + " bytes");
  }
  t.entries.reserve(count);
  const uint8_t* p = h + kTreeHeaderSize;
  const uint8_t* const table_end = p + table_bytes;
  uint64_t next_data = kTreeHeaderSize + table_bytes;
  std::unordered_map<std::string_view, TreeEntryType> seen;  // views into `object`
  seen.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    if (static_cast<uint64_t>(table_end - p) < kTreeEntryFixedSize) {
      return bad("entry " + std::to_string(i) + " is cut off by the end of the table");
    }
    TreeEntry e;
    const uint8_t type = p[0];
    const uint8_t reserved = p[1];
    const size_t path_len = static_cast<size_t>(get(p + 2, 2));
    e.mode = static_cast<uint32_t>(get(p + 4, 4));
    e.mtime.sec = static_cast<int64_t>(get(p + 8, 8));
    e.mtime.nsec = static_cast<uint32_t>(get(p + 16, 4));
    e.size = get(p + 20, 8);
    e.data_offset = get(p + 28, 8);
    const size_t target_len = static_cast<size_t>(get(p + 36, 2));
    if (static_cast<uint64_t>(table_end - p) - kTreeEntryFixedSize < path_len + target_len) {
      return bad("entry " + std::to_string(i) + " is cut off by the end of the table");
    }
    const std::string_view path(reinterpret_cast<const char*>(p + kTreeEntryFixedSize), path_len);
    const std::string_view target(reinterpret_cast<const char*>(p + kTreeEntryFixedSize + path_len),
                                  target_len);
    p += kTreeEntryFixedSize + path_len + target_len;
    const std::string at = entry_name(i, path);
    if (type < 1 || type > 3) return bad(at + ": unknown type " + std::to_string(type));
    if (reserved != 0) return bad(at + ": reserved byte is not 0");
    e.type = static_cast<TreeEntryType>(type);
    if ((e.mode & ~kTreeModeMask) != 0) return bad(at + ": mode has bits outside 07777");
    if (e.mtime.nsec >= 1'000'000'000) return bad(at + ": mtime nanoseconds >= 1e9");
    if (std::string why = tree_path_problem(path); !why.empty()) return bad(at + ": " + why);
    if (seen.count(path) != 0) return bad(at + ": path appears twice");
    const size_t slash = path.rfind('/');
    if (slash != std::string_view::npos) {
      auto parent = seen.find(path.substr(0, slash));
      if (parent == seen.end()) return bad(at + ": its parent is not an earlier directory entry");
      if (parent->second != TreeEntryType::kDirectory) {
        return bad(at + ": its parent is a " +
                   (parent->second == TreeEntryType::kSymlink ? "symlink" : "file") +
                   ", not a directory");
      }
    }
    if (e.type == TreeEntryType::kSymlink) {
      if (target.empty() || target.size() > kTreeMaxTarget)
        return bad(at + ": bad symlink target length");
      if (target.find('\0') != std::string_view::npos)
        return bad(at + ": NUL byte in symlink target");
    } else if (!target.empty()) {
      return bad(at + ": only symlinks have a target");
    }
    if (e.type == TreeEntryType::kFile) {
      if (e.data_offset != next_data) {
        return bad(at + ": data at offset " + std::to_string(e.data_offset) + ", expected " +
                   std::to_string(next_data) + " (file data must be back to back in table order)");
      }
      if (e.size > object.size() - next_data) return bad(at + ": data runs past the object's end");
      next_data += e.size;
    } else if (e.size != 0 || e.data_offset != 0) {
      return bad(at + ": only files have data");
    }
    e.path.assign(path);
    e.target.assign(target);
    seen.emplace(path, e.type);
    t.entries.push_back(std::move(e));
  }
  if (p != table_end) {
    return bad(std::to_string(table_end - p) + " bytes left in the table after the last entry");
  }
  if (next_data != object.size()) {
    return bad(std::to_string(object.size() - next_data) +
               " bytes after the last file's data belong to no entry");
  }
  return t;
}

}  // namespace shoal::object
