// The target disk an announcement's policy names (issue #17 item 7). A machine that boots the
// initramfs without shoal.out= writes to the disk the sender's signed announcement describes, or
// to none: a policy that matches no disk, or more than one, is refused, never guessed.
//
// Policies (the text of `shoal send --target`, carried in the announcement):
//   /dev/PATH          that block device (a udev link such as /dev/disk/by-path/... is fine)
//   disk               the machine's only disk
//   disk:model=GLOB    the only disk whose model matches GLOB (shell glob, case-sensitive)
//   disk:serial=GLOB   the only disk whose serial number matches GLOB
// A disk here is a whole block device that is not removable, not read-only, not virtual (loop,
// ram, zram, device-mapper, md: no `device` link in sysfs) and at least as large as the object.
//
// check_target_policy and choose_target are pure; list_disks reads sysfs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal::object {

inline constexpr size_t kMaxTargetPolicy = 256;

// One entry of /sys/block.
struct DiskInfo {
  std::string name;  // "sda", "nvme0n1"; the device is /dev/<name>
  uint64_t size_bytes = 0;
  bool removable = false;
  bool read_only = false;
  bool is_virtual = false;  // no backing hardware (loop, ram, zram, dm-*, md*)
  std::string model;        // "" when sysfs has none
  std::string serial;
};

// The syntax of a policy (the sender checks it before announcing it). Errors name the policy and
// list the forms above.
Status check_target_policy(std::string_view policy);

// The device a policy chooses among `disks` for an object of `object_size` bytes: "/dev/<name>",
// or the policy itself when it names a path. Errors say why nothing was chosen, listing the
// disks seen (none that qualify, or which ones match when several do) and the fix.
Result<std::string> choose_target(std::string_view policy, std::span<const DiskInfo> disks,
                                  uint64_t object_size);

// The block devices in `sys_block` (normally /sys/block), in name order.
Result<std::vector<DiskInfo>> list_disks(const std::string& sys_block = "/sys/block");

}  // namespace shoal::object
