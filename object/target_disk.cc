#include "object/target_disk.h"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "common/printable.h"
#include "common/units.h"

namespace shoal::object {

namespace {

constexpr const char* kForms = "use /dev/PATH, disk, disk:model=GLOB or disk:serial=GLOB";

struct Policy {
  enum class Kind { kPath, kOnlyDisk, kModel, kSerial } kind = Kind::kOnlyDisk;
  std::string arg;  // the path, or the glob
};

Result<Policy> parse(std::string_view text) {
  const std::string shown = "target policy '" + printable(text) + "'";
  if (text.empty()) return make_error("empty target policy: " + std::string(kForms));
  if (text.size() > kMaxTargetPolicy) {
    return make_error(shown + " is longer than " + std::to_string(kMaxTargetPolicy) + " bytes");
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return make_error(shown + " holds a control character");
  }
  if (text.starts_with("/")) {
    if (!text.starts_with("/dev/") || text.find("/../") != std::string_view::npos ||
        text.ends_with("/..")) {
      return make_error(shown + " is not a path under /dev/: " + kForms);
    }
    return Policy{Policy::Kind::kPath, std::string(text)};
  }
  if (text == "disk") return Policy{Policy::Kind::kOnlyDisk, {}};
  for (auto [prefix, kind] : {std::pair{"disk:model=", Policy::Kind::kModel},
                              std::pair{"disk:serial=", Policy::Kind::kSerial}}) {
    const std::string_view p(prefix);
    if (text.starts_with(p)) {
      if (text.size() == p.size()) return make_error(shown + " has an empty glob");
      return Policy{kind, std::string(text.substr(p.size()))};
    }
  }
  return make_error("unknown " + shown + ": " + kForms);
}

std::string describe(const DiskInfo& d) {
  std::string s = d.name + " (" + format_bytes(double(d.size_bytes));
  if (!d.model.empty()) s += ", model '" + printable(d.model) + "'";
  if (!d.serial.empty()) s += ", serial '" + printable(d.serial) + "'";
  if (d.removable) s += ", removable";
  if (d.read_only) s += ", read-only";
  if (d.is_virtual) s += ", virtual";
  return s + ")";
}

std::string list(const std::vector<const DiskInfo*>& disks) {
  std::string s;
  for (const DiskInfo* d : disks) s += (s.empty() ? "" : ", ") + describe(*d);
  return s;
}

std::string read_line(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::string line;
  std::getline(f, line);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\n')) line.pop_back();
  while (!line.empty() && line.front() == ' ') line.erase(line.begin());
  return line;
}

}  // namespace

Status check_target_policy(std::string_view policy) {
  auto p = parse(policy);
  if (!p) return make_error(p.error());
  return {};
}

Result<std::string> choose_target(std::string_view policy, std::span<const DiskInfo> disks,
                                  uint64_t object_size) {
  auto p = parse(policy);
  if (!p) return make_error(p.error());
  if (p->kind == Policy::Kind::kPath) return p->arg;
  const std::string shown = "the announcement's target policy '" + printable(policy) + "'";
  std::vector<const DiskInfo*> all, qualify, match;
  for (const DiskInfo& d : disks) {
    all.push_back(&d);
    if (d.removable || d.read_only || d.is_virtual || d.size_bytes < object_size) continue;
    qualify.push_back(&d);
    const std::string& field = p->kind == Policy::Kind::kModel ? d.model : d.serial;
    if (p->kind == Policy::Kind::kOnlyDisk || fnmatch(p->arg.c_str(), field.c_str(), 0) == 0)
      match.push_back(&d);
  }
  const std::string fix =
      ": name the disk with shoal.out= (recv --out), or send a narrower --target";
  if (match.size() == 1) return "/dev/" + match.front()->name;
  if (match.size() > 1) {
    return make_error(shown + " matches " + std::to_string(match.size()) +
                      " disks, and shoal does not guess which to overwrite: " + list(match) + fix);
  }
  if (qualify.empty()) {
    return make_error(shown + " finds no disk: none is fixed, writable, physical and at least " +
                      format_bytes(double(object_size)) + " (seen: " +
                      (all.empty() ? std::string("no block devices") : list(all)) + ")" + fix);
  }
  return make_error(shown + " matches none of the disks: " + list(qualify) + fix);
}

Result<std::vector<DiskInfo>> list_disks(const std::string& sys_block) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<DiskInfo> out;
  for (const auto& e : fs::directory_iterator(sys_block, ec)) {
    const fs::path dir = e.path();
    DiskInfo d;
    d.name = dir.filename().string();
    try {
      d.size_bytes = std::stoull(read_line(dir / "size")) * 512;  // in 512-byte sectors, always
    } catch (const std::exception&) {
      continue;  // not a block device entry
    }
    d.removable = read_line(dir / "removable") == "1";
    d.read_only = read_line(dir / "ro") == "1";
    std::error_code no_device;  // not `ec`: that one reports the listing itself
    d.is_virtual = !fs::exists(dir / "device", no_device);
    d.model = read_line(dir / "device" / "model");
    d.serial = read_line(dir / "device" / "serial");
    if (d.serial.empty()) d.serial = read_line(dir / "serial");  // virtio-blk keeps it here
    out.push_back(std::move(d));
  }
  if (ec) return make_error("cannot list " + sys_block + ": " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const DiskInfo& a, const DiskInfo& b) { return a.name < b.name; });
  return out;
}

}  // namespace shoal::object
