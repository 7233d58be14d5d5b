#!/usr/bin/env bash
# e2e (issue #17 item 7): the initramfs for real servers. Built for the guest kernel
# (scripts/qemu-provision.sh find-kernel) with --no-default-modules and --module: the archive holds
# exactly the named drivers that kernel has (and their dependencies), the firmware a driver names
# (modinfo -F firmware) from --firmware-dir under lib/firmware, and a note for a driver the kernel
# lacks. --module without --modules is refused. Then a qemu guest (no network, nothing to write to)
# boots it with shoal.sender= and without shoal.out= (so no announcement can name the disk): it must
# refuse to guess a target disk, say so, and power off.
source "$(dirname "$0")/lib.sh"
e2e_init initramfs "$@"
need_cmd modinfo zcat timeout
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || skip "no static /bin/busybox (apt-get install busybox-static)"
PV=$SRC/scripts/qemu-provision.sh
kernel=$("$PV" find-kernel 2>&1) || skip "${kernel#qemu-provision: SKIP: }"
read -r vmlinuz moddir <<<"$kernel"
log "kernel $vmlinuz, modules $moddir"
# A driver of that kernel that names a firmware file, and the file (any bytes will do here).
drv="" fw=""
for m in jr3_pci daqboard2000 me4000; do
  p=$(awk -F: -v m="$m" '{n = $1; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n); if (n == m) {print $1; exit}}' "$moddir/modules.dep")
  [ -n "$p" ] || continue
  fw=$(modinfo -F firmware "$moddir/$p" | head -n1)
  [ -n "$fw" ] && { drv=$m; break; }
done
[ -n "$drv" ] || skip "this kernel has none of the drivers with firmware this test uses"
mkdir -p "$WORK/fw/$(dirname "$fw")"
echo "firmware of $drv" >"$WORK/fw/$fw"

I=$SRC/scripts/initramfs.sh
run_bg build - 120 "$I" "$WORK/i.gz" --shoal "$SHOAL" --modules "$moddir" --no-default-modules \
  --module virtio_net --module "$drv" --module nosuch_driver --firmware-dir "$WORK/fw"
expect_rc build 0
expect_log build "not in this kernel, skipped: nosuch_driver" "names the driver the kernel lacks"
zcat "$WORK/i.gz" | /bin/busybox cpio -t 2>/dev/null | sort >"$WORK/list"
expect "the archive has virtio_net" grep -qx "lib/modules/virtio_net.ko" "$WORK/list"
expect "the archive has $drv" grep -qx "lib/modules/$drv.ko" "$WORK/list"
expect "the archive has $drv's firmware $fw" grep -qx "lib/firmware/$fw" "$WORK/list"
expect_eq "default drivers left out (--no-default-modules)" "$(grep -cE 'lib/modules/(ahci|virtio_blk|sd_mod)\.ko' "$WORK/list")" 0
run_bg nomods - 60 "$I" "$WORK/j.gz" --shoal "$SHOAL" --module virtio_net
expect_rc nomods 1
expect_log nomods "--module needs --modules DIR" "says what is missing"

if command -v qemu-system-x86_64 >/dev/null; then
  "$I" "$WORK/k.gz" --shoal "$SHOAL" --modules "$moddir" >"$WORK/k.log" 2>&1 || fail "initramfs.sh failed: $(cat "$WORK/k.log")"
  run_bg guest - 120 qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 1 -nodefaults -display none \
    -no-reboot -serial "file:$WORK/console.log" -kernel "$vmlinuz" -initrd "$WORK/k.gz" \
    -append "console=ttyS0 panic=-1 shoal.ip=dhcp shoal.sender=198.18.0.1:9100" -nic none
  expect_rc guest 0
  expect "the guest refuses to guess a target disk" \
    grep -qa "SHOAL-PROVISION: FAILED no target disk: add shoal.out=/dev/DISK" "$WORK/console.log"
else
  echo "SKIP (this part only): no qemu-system-x86_64 to boot the initramfs without shoal.out="
fi
e2e_finish
