#!/usr/bin/env bash
# e2e (labels e2e;root;netns): PXE-like provisioning in a qemu guest (scripts/qemu-provision.sh). The guest
# boots a Debian kernel under software emulation with the initramfs of scripts/initramfs.sh, takes a DHCP
# lease from busybox udhcpd in a namespace, finds the session `shoal send --announce` announces (its
# kernel command line names no sender, only shoal.object=image.*: the script's default --mode announce),
# receives a 32 MiB random image over a bridge and tap, writes it to its virtio disk, reads it back and
# powers off. Checked here, apart from the script's own verdict: the disk file's first 32 MiB hash like
# the image and the rest stayed zero, the guest's console reports that hash, the guest booted without
# shoal.sender= and joined the announced session, the sender's summary lists the guest as done, and
# nothing the script created (namespace, processes) is left. The guest's command line names no disk
# either: the sender's --target 'disk:serial=shoal-guest*' does, and the guest writes to the one disk
# with that serial (issue #17 item 7).
# The guest boots late (issue #17 item 1): the sender runs `--until 60s`, a receiver beside it gets the
# image first, and only then does the guest boot; it must find the session still announced and get
# the image in a new cycle, and the sender must end by itself with both verified. (--mode sender, shoal.sender=, is the same
# `shoal recv --sender` the loopback and namespace tests run; one ~30 s boot here is enough.)
# The guest runs SHOAL_GUEST_BINARY when set; else the -DSHOAL_STATIC=ON build when ctest passes one
# (SHOAL_STATIC_BINARY, the initramfs binary this flow is made for, built by scripts/setup.sh test);
# else the shoal under test ($SHOAL, with its shared libraries copied into the initramfs). Skips (77) without root, qemu-system-x86,
# busybox-static or a guest kernel (scripts/qemu-provision.sh fetch-kernel puts one in its cache).
source "$(dirname "$0")/lib.sh"
e2e_init provision "$@"

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, bridge, tap device)"
need_cmd ip timeout sha256sum cmp qemu-system-x86_64 jq
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || skip "no static /bin/busybox (apt-get install busybox-static)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun (tap devices)"
PV=$SRC/scripts/qemu-provision.sh
kernel=$("$PV" find-kernel 2>&1) || skip "${kernel#qemu-provision: SKIP: }"
log "guest kernel and modules: $kernel"
GUEST=${SHOAL_GUEST_BINARY:-}
if [ -z "$GUEST" ]; then
  GUEST=$SHOAL
  [ -x "${SHOAL_STATIC_BINARY:-}" ] && GUEST=$SHOAL_STATIC_BINARY
fi
log "guest binary: $GUEST"
[ -x "$GUEST" ] || { fail "SHOAL_GUEST_BINARY '$GUEST' is not an executable"; e2e_finish; }

SIZE=32
PVW=$WORK/pv
run_bg provision - 290 "$PV" run --shoal "$SHOAL" --guest-shoal "$GUEST" --size "$SIZE" --timeout 200 \
  --until 60 --work "$PVW"
script_pid=$(cmd_pid provision) || script_pid=""
wait_rc provision
if [ "${E2E_RC[provision]}" = 77 ]; then skip "$(grep -m1 'SKIP:' "$WORK/provision.log" | sed 's/.*SKIP: //')"; fi
expect_rc provision 0
cat "$WORK/provision.log"

want=$(sha_of "$PVW/image.img")
expect_eq "sha256 of the disk's first $SIZE MiB" "$(head -c $((SIZE << 20)) "$PVW/disk.img" | sha256sum | cut -d' ' -f1)" "$want"
expect "the disk past the image is still zero" \
  cmp -s -n $((16 << 20)) <(tail -c +$(((SIZE << 20) + 1)) "$PVW/disk.img") /dev/zero
expect_eq "the guest's report" "$(grep -a 'SHOAL-PROVISION:' "$PVW/console.log" | tr -d '\r' | tail -n1)" \
  "SHOAL-PROVISION: DONE sha256=$want bytes=$((SIZE << 20))"
expect_eq "receivers in the sender's summary" "$(json "$PVW/send.json" '.receivers | length')" 2
expect_eq "the first receiver's outcome" "$(json "$PVW/send.json" '.receivers[] | select(.name == "early") | .outcome')" "done"
expect_eq "the guest's outcome in the sender's summary" \
  "$(json "$PVW/send.json" '.receivers[] | select(.name != "early") | .outcome')" "done"
expect "the late guest was served by a new cycle of the session" \
  grep -q "a late receiver is ready: cycle 2" "$PVW/send.log"
expect "the guest got its address by DHCP" grep -qa "udhcpc: lease of 198.18.0" "$PVW/console.log"
expect "the guest chose its interface by the PXE loader's BOOTIF" \
  grep -qa "init: interface eth0 (BOOTIF 52:54:00:5e:00:01)" "$PVW/console.log"
cmdline=$(grep -a -m1 'Kernel command line:' "$PVW/console.log" | tr -d '\r')
expect "the guest's kernel command line names no sender and no disk (${cmdline#*: })" \
  eval '[ -n "$cmdline" ] && [[ $cmdline != *shoal.sender=* && $cmdline != *shoal.out=* ]]'
expect "the guest took its disk from the announcement's policy (issue #17 item 7)" \
  grep -qa "target disk /dev/vda (the announcement's policy 'disk:serial=shoal-guest\*')" "$PVW/console.log"
expect "the guest joined the session it heard announced" \
  grep -qaE "joining session [0-9a-f]{16} 'image.img' .* announced by 198.18.0.1:9100" "$PVW/console.log"

# ([q]emu: the pattern must not match a command line that contains the pattern itself.)
no_namespace() { ! ip netns list | awk '{print $1}' | grep -qx "shoalpv$1"; }
no_qemu() { ! pgrep -f -- "[q]emu-system-x86_64 .*$PVW/initrd.gz" >/dev/null; }
if [ -n "$script_pid" ]; then
  expect "the script removed its namespace shoalpv$script_pid" no_namespace "$script_pid"
  expect "no qemu is left running on this work dir" no_qemu
else
  fail "could not find the script's PID (to check its clean-up)"
fi
e2e_finish
