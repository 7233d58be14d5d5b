// The target disk an announcement's policy chooses (issue #17 item 7): one disk or a refusal.
#include "object/target_disk.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

namespace shoal::object {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kGB = 1'000'000'000;

DiskInfo disk(std::string name, uint64_t gb, std::string model = "", std::string serial = "") {
  DiskInfo d;
  d.name = std::move(name);
  d.size_bytes = gb * kGB;
  d.model = std::move(model);
  d.serial = std::move(serial);
  return d;
}

// A server's view: one SSD, one HDD, and what must never be chosen.
std::vector<DiskInfo> server() {
  std::vector<DiskInfo> v = {disk("nvme0n1", 960, "SAMSUNG MZQL2960", "S64FNE0R1"),
                             disk("sda", 4000, "ST4000NM000A", "ZC1A2B3C")};
  DiskInfo usb = disk("sdb", 64, "Ultra USB 3.0", "4C530001");
  usb.removable = true;
  DiskInfo loop = disk("loop0", 2000);
  loop.is_virtual = true;
  DiskInfo ro = disk("sdc", 2000, "RO MEDIA", "RO1");
  ro.read_only = true;
  v.push_back(usb);
  v.push_back(loop);
  v.push_back(ro);
  return v;
}

TEST(TargetDisk, AGlobChoosesTheOneDiskItMatches) {
  const auto disks = server();
  auto ssd = choose_target("disk:model=SAMSUNG*", disks, 20 * kGB);
  ASSERT_TRUE(ssd.ok()) << ssd.error();
  EXPECT_EQ(*ssd, "/dev/nvme0n1");
  auto hdd = choose_target("disk:serial=ZC1A*", disks, 20 * kGB);
  ASSERT_TRUE(hdd.ok()) << hdd.error();
  EXPECT_EQ(*hdd, "/dev/sda");
}

TEST(TargetDisk, SeveralMatchesAreRefusedNeverGuessed) {
  auto r = choose_target("disk", server(), 20 * kGB);
  ASSERT_FALSE(r.ok()) << "chose " << *r;
  EXPECT_NE(r.error().find("matches 2 disks"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("nvme0n1"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("sda"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("shoal.out="), std::string::npos) << "names the fix: " << r.error();
  auto glob = choose_target("disk:model=*", server(), 20 * kGB);
  EXPECT_FALSE(glob.ok());
}

TEST(TargetDisk, RemovableReadOnlyVirtualAndSmallDisksAreNeverChosen) {
  std::vector<DiskInfo> disks = server();
  // Only the USB stick, the loop device and the read-only disk match this glob; none qualifies.
  auto r = choose_target("disk:serial=*[0-9]", {disks.data() + 2, 3}, 20 * kGB);
  ASSERT_FALSE(r.ok()) << "chose " << *r;
  EXPECT_NE(r.error().find("finds no disk"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("removable"), std::string::npos) << "lists what it saw: " << r.error();
  // The SSD is too small for a 1 TB object: the HDD is the only disk left.
  auto big = choose_target("disk", disks, 1000 * kGB);
  ASSERT_TRUE(big.ok()) << big.error();
  EXPECT_EQ(*big, "/dev/sda");
  // ...and for 5 TB there is none.
  EXPECT_FALSE(choose_target("disk", disks, 5000 * kGB).ok());
}

TEST(TargetDisk, AGlobThatMatchesNothingSaysWhatItSaw) {
  auto r = choose_target("disk:model=INTEL*", server(), kGB);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("matches none of the disks"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("SAMSUNG MZQL2960"), std::string::npos) << r.error();
}

TEST(TargetDisk, APathIsTakenAsItIs) {
  auto r = choose_target("/dev/disk/by-path/pci-0000:00:1f.2-ata-1", {}, kGB);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(*r, "/dev/disk/by-path/pci-0000:00:1f.2-ata-1");
}

TEST(TargetDisk, MalformedPoliciesAreRefusedWithTheForms) {
  for (const char* bad : {"", "/etc/passwd", "/dev/../etc/shadow", "/dev/sda/..",
                          "disk:model=", "disk:colour=red", "largest", "disk\n"}) {
    EXPECT_FALSE(check_target_policy(bad).ok()) << "'" << bad << "' accepted";
  }
  EXPECT_FALSE(check_target_policy(std::string(kMaxTargetPolicy + 1, 'd')).ok());
  Status unknown = check_target_policy("largest");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("disk:serial=GLOB"), std::string::npos) << unknown.error();
  for (const char* good : {"disk", "disk:model=SAMSUNG*", "disk:serial=S64F?E0R1", "/dev/sda"})
    EXPECT_TRUE(check_target_policy(good).ok()) << good;
}

void put(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text << "\n";
}

TEST(TargetDisk, SysfsIsReadAsTheKernelLaysItOut) {
  char t[] = "/tmp/shoal-target-disk-test.XXXXXX";
  ASSERT_NE(mkdtemp(t), nullptr);
  const fs::path root(t);
  put(root / "sda/size", "1953525168");  // 512-byte sectors
  put(root / "sda/removable", "0");
  put(root / "sda/ro", "0");
  put(root / "sda/device/model", "ST1000NM0008    ");  // SCSI pads the model
  put(root / "sda/device/serial", "ZA1B2C3D");
  put(root / "vda/size", "41943040");
  put(root / "vda/removable", "0");
  put(root / "vda/ro", "0");
  put(root / "vda/serial", "shoal-target");  // virtio-blk: serial beside size
  fs::create_directories(root / "vda/device");
  put(root / "loop0/size", "2048");
  put(root / "loop0/removable", "0");
  put(root / "loop0/ro", "1");
  auto disks = list_disks(root.string());
  fs::remove_all(root);
  ASSERT_TRUE(disks.ok()) << disks.error();
  ASSERT_EQ(disks->size(), 3u);
  const DiskInfo &loop = (*disks)[0], &sda = (*disks)[1], &vda = (*disks)[2];
  EXPECT_EQ(loop.name, "loop0");
  EXPECT_TRUE(loop.is_virtual);
  EXPECT_TRUE(loop.read_only);
  EXPECT_EQ(sda.size_bytes, 1953525168ull * 512);
  EXPECT_EQ(sda.model, "ST1000NM0008");
  EXPECT_EQ(sda.serial, "ZA1B2C3D");
  EXPECT_FALSE(sda.is_virtual);
  EXPECT_EQ(vda.serial, "shoal-target");
  EXPECT_FALSE(vda.is_virtual);
  auto chosen = choose_target("disk:serial=shoal-*", *disks, 1 << 20);
  ASSERT_TRUE(chosen.ok()) << chosen.error();
  EXPECT_EQ(*chosen, "/dev/vda");
}

}  // namespace
}  // namespace shoal::object
