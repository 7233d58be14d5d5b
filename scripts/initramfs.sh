#!/usr/bin/env bash
# Builds a minimal initramfs (newc cpio, gzip) whose /init receives a disk image with `shoal recv` and
# writes it to the machine's disk: PXE-like provisioning without an installer.
#
# usage: initramfs.sh OUT.cpio.gz [--shoal BIN] [--busybox BIN] [--modules DIR] [--key FILE]
#                     [--module NAME]... [--no-default-modules] [--firmware-dir DIR]
#   --shoal BIN     the shoal binary (default: build-static/cli/shoal, the -DSHOAL_STATIC=ON build, else the
#                   shoal in PATH). Shared libraries it needs (ldd) are copied with it, so any build works.
#   --busybox BIN   a statically linked busybox (default /bin/busybox, Debian package busybox-static)
#   --modules DIR   the guest kernel's /lib/modules/VERSION: the network and disk drivers below and what they
#                   depend on (modules.dep) are copied and loaded at boot; drivers built into that kernel
#                   (modules.builtin) are skipped. Without it the kernel must have them built in.
#   --key FILE      the pre-shared key (`shoal keygen`), stored as /etc/shoal/shoal.key (mode 0600)
#   --module NAME   another driver to include (repeatable), e.g. a NIC or RAID controller not in the default
#                   list: virtio, sd_mod, nvme, ahci, megaraid_sas, mpt3sas, e1000(e), igb, ixgbe, i40e, ice,
#                   mlx5_core, bnxt_en, tg3
#   --no-default-modules  only the --module drivers (and what they depend on)
#   --firmware-dir DIR    where the firmware files the included drivers name (modinfo -F firmware) are
#                   taken from, into /lib/firmware (default /lib/firmware; missing ones are listed)
#
# At boot, /init reads these kernel command-line parameters (all optional):
#   shoal.sender=ADDR:PORT   the sender's control address; without it /init waits for a session that
#                            `shoal send --announce` announces (shoal recv --announce) and joins it
#   shoal.announce=GROUP:PORT  the announce group (default 239.255.0.2:9001, as send --announce)
#   shoal.object=GLOB        join only an announced session whose object name matches (default: any)
#   shoal.wait=DURATION      how long to wait for the announcement or the sender (default 10m)
#   shoal.clock_skew=DURATION  refuse announcements whose time is further than this from the machine's
#                            clock (default 5m; 0 turns the check off, for a clock that is not set)
#   shoal.ip=dhcp|ADDR/LEN   how to configure the interface (default dhcp, with busybox udhcpc)
#   shoal.iface=NAME         the interface; without it, the one whose MAC the PXE loader names in BOOTIF=
#                            (pxelinux IPAPPEND 2, iPXE), else the first with a link (carrier), else the
#                            first that is not lo
#   shoal.out=DEV            where to write the image. Without it, the disk the signed announcement's
#                            policy names (`shoal send --announce --target`; shoal refuses a policy
#                            that matches no disk or several); with shoal.sender= and no shoal.out=,
#                            /init fails before touching the network: it never guesses a disk
#   shoal.insecure=1         join a sender that runs without authentication (when no key is built in)
#   shoal.shell=1            start a shell on the console instead of powering off when something fails
# It prints one line "SHOAL-PROVISION: DONE sha256=HEX bytes=N" (after shoal verified the image and a
# read-back of the disk, bypassing the page cache, gave the same SHA-256) or "SHOAL-PROVISION: FAILED
# reason", then powers off. docs/provisioning.md has a worked example (scripts/qemu-provision.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)   # scripts/ in the source tree, /usr/share/shoal when installed

# Drivers a virtual machine (virtio) or a typical server needs to reach the network and its disk; a
# module that the kernel does not have is skipped with a note.
MODULES=(virtio_pci virtio_net virtio_blk virtio_scsi sd_mod nvme ahci megaraid_sas mpt3sas
         e1000 e1000e igb ixgbe i40e ice mlx5_core bnxt_en tg3)

die() { echo "initramfs: $*" >&2; exit 1; }
usage() { sed -n '/^# usage:/,/^# At boot/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

out=${1:-}
[ -n "$out" ] && [ "${out#-}" = "$out" ] || usage
shift
shoal=$HERE/../build-static/cli/shoal busybox=/bin/busybox moddir="" key="" fwdir=/lib/firmware extra=()
[ -x "$shoal" ] || shoal=$(command -v shoal || true)
while (($#)); do
  case $1 in
    --shoal) shoal=${2:?}; shift 2 ;;
    --busybox) busybox=${2:?}; shift 2 ;;
    --modules) moddir=${2:?}; shift 2 ;;
    --key) key=${2:?}; shift 2 ;;
    --module) extra+=("${2:?}"); shift 2 ;;
    --no-default-modules) MODULES=(); shift ;;
    --firmware-dir) fwdir=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
[ -x "$shoal" ] || die "no shoal binary (build one: see packaging/static/static.cmake, or pass --shoal)"
[ -x "$busybox" ] || die "no busybox at $busybox (apt-get install busybox-static)"
ldd "$busybox" >/dev/null 2>&1 && die "$busybox is dynamically linked: use busybox-static's /bin/busybox"
[ -z "$key" ] || [ -r "$key" ] || die "cannot read the key file $key"
[ -z "$moddir" ] || [ -f "$moddir/modules.dep" ] || die "$moddir has no modules.dep (want /lib/modules/VERSION)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/shoal-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,run,tmp,etc/shoal,lib/modules,usr/share/udhcpc}

# busybox and its applets (links made at boot with `busybox --install -s`, so the archive stays small).
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"

# shoal and whatever shared libraries it needs, at the paths its loader looks in.
cp "$shoal" "$stage/bin/shoal"
strip --strip-unneeded "$stage/bin/shoal" 2>/dev/null || true
libs=$(ldd "$shoal" 2>/dev/null | grep -oE '/[^ ]+' || true)   # empty for a static binary
for lib in $libs; do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done

# Kernel modules, dependencies first (modules.dep lists them), each once, in load order.
if [ -n "$moddir" ]; then
  declare -A seen=()
  order=() missing=()
  add_module() {   # $1 = path relative to moddir
    [ -n "${seen[$1]:-}" ] && return
    seen[$1]=1
    local dep
    for dep in $(awk -F: -v m="$1" '$1 == m {print $2}' "$moddir/modules.dep"); do add_module "$dep"; done
    order+=("$1")
  }
  for m in "${MODULES[@]}" "${extra[@]}"; do
    path=$(awk -F: -v m="$m" '{n = $1; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n); gsub(/-/, "_", n)
                                if (n == m) {print $1; exit}}' "$moddir/modules.dep")
    if [ -n "$path" ]; then add_module "$path"
    elif grep -qE "/$m\.ko" "$moddir/modules.builtin" 2>/dev/null; then :   # built in
    else missing+=("$m")
    fi
  done
  ((${#missing[@]} == 0)) || echo "initramfs: not in this kernel, skipped: ${missing[*]}" >&2
  nofw=()
  for m in "${order[@]}"; do
    case $m in *.ko) ;; *) die "module $m is compressed; this script copies plain .ko files only" ;; esac
    cp "$moddir/$m" "$stage/lib/modules/"
    basename "$m" >>"$stage/lib/modules/load-order"
    # The firmware it asks for, where the firmware directory has it (the kernel loads it from
    # /lib/firmware by itself, no helper needed).
    command -v modinfo >/dev/null || continue
    for fw in $(modinfo -F firmware "$moddir/$m" 2>/dev/null); do
      [ -e "$stage/lib/firmware/$fw" ] && continue
      if [ -f "$fwdir/$fw" ]; then
        mkdir -p "$stage/lib/firmware/$(dirname "$fw")"
        cp -L "$fwdir/$fw" "$stage/lib/firmware/$fw"
      else
        nofw+=("$fw")
      fi
    done
  done
  command -v modinfo >/dev/null || echo "initramfs: no modinfo (apt-get install kmod): no firmware included" >&2
  ((${#nofw[@]} == 0)) || echo "initramfs: firmware not in $fwdir, skipped: ${nofw[*]}" >&2
elif ((${#extra[@]})); then
  die "--module needs --modules DIR (the kernel's /lib/modules/VERSION)"
fi

if [ -n "$key" ]; then
  install -m 0600 "$key" "$stage/etc/shoal/shoal.key"
fi

# udhcpc calls this with the lease in its environment; it only has to apply it.
cat >"$stage/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound | renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "${router:-}" ] && ip route add default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
EOF
chmod 755 "$stage/usr/share/udhcpc/default.script"

cat >"$stage/init" <<'EOF'
#!/bin/sh
# shoal provisioning init (scripts/initramfs.sh): receive an image onto the disk, verify it, power off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run/shoal
exec </dev/console >/dev/console 2>&1

result() { echo "SHOAL-PROVISION: $*"; }
finish() {
  sync
  if [ "$1" != 0 ] && [ "$shell" = 1 ]; then echo "shoal.shell=1: starting a shell"; setsid cttyhack sh; fi
  poweroff -f
}
failed() { result "FAILED $*"; finish 1; }

sender="" announce=239.255.0.2:9001 object="" wait=10m skew="" ipcfg=dhcp iface="" out="" insecure="" shell=""
bootif=""
set -f   # shoal.object=GLOB must reach shoal as written, not expanded against /
for arg in $(cat /proc/cmdline); do
  case $arg in
    shoal.sender=*) sender=${arg#*=} ;;
    shoal.announce=*) announce=${arg#*=} ;;
    shoal.object=*) object=${arg#*=} ;;
    shoal.wait=*) wait=${arg#*=} ;;
    shoal.clock_skew=*) skew=${arg#*=} ;;
    shoal.ip=*) ipcfg=${arg#*=} ;;
    shoal.iface=*) iface=${arg#*=} ;;
    shoal.out=*) out=${arg#*=} ;;
    shoal.insecure=1) insecure=1 ;;
    shoal.shell=1) shell=1 ;;
    BOOTIF=*) bootif=${arg#*=} ;;
  esac
done
set +f
# Overwriting the wrong disk cannot be undone: the target is named, never guessed. Named by
# shoal.out=, or by the signed announcement's policy (send --announce --target), which shoal
# applies to this machine's disks and refuses when it matches none or several.
if [ -z "$out" ] && [ -n "$sender" ]; then
  failed "no target disk: add shoal.out=/dev/DISK to the kernel command line, or join by announcement (no shoal.sender=) from a sender that names one with --target (the initramfs never guesses which disk to overwrite)"
fi

if [ -f /lib/modules/load-order ]; then
  for m in $(cat /lib/modules/load-order); do insmod "/lib/modules/$m" || echo "init: insmod $m failed"; done
fi

# BOOTIF=01-aa-bb-cc-dd-ee-ff (ARP type 1, then the MAC the machine booted from): that interface.
bootmac=""
[ -n "$bootif" ] && bootmac=$(echo "${bootif#??-}" | tr 'A-F-' 'a-f:')
why="shoal.iface"
[ -n "$iface" ] || why=""
# Drivers probe asynchronously: wait (bounded) for the interface and the disk to appear.
i=0
while [ $i -lt 100 ]; do
  if [ -z "$why" ] && [ -n "$bootmac" ]; then
    for n in /sys/class/net/*; do
      [ "$(cat "$n/address" 2>/dev/null)" = "$bootmac" ] && iface=${n##*/} && why="BOOTIF $bootmac" && break
    done
  fi
  # Without shoal.out=, a disk with hardware behind it (the announcement's policy picks among them).
  if [ -n "$out" ]; then disk_ok=$([ -b "$out" ] && echo 1); else disk_ok=$(ls -d /sys/block/*/device 2>/dev/null | head -n1); fi
  [ -n "$iface" ] && [ -e "/sys/class/net/$iface" ] && [ -n "$disk_ok" ] && break
  i=$((i + 1)); sleep 0.1
done
[ -z "$out" ] || [ -b "$out" ] || failed "no block device $out"
if [ -z "$why" ]; then
  [ -z "$bootmac" ] || echo "init: no interface has the BOOTIF address $bootmac; choosing by link"
  # The first interface with a link (all are brought up, a link takes a few seconds), else the first.
  first=""
  for n in /sys/class/net/*; do [ "${n##*/}" != lo ] && ip link set "${n##*/}" up && first=${first:-${n##*/}}; done
  i=0
  while [ -z "$why" ] && [ $i -lt 50 ]; do
    for n in /sys/class/net/*; do
      [ "${n##*/}" != lo ] && [ "$(cat "$n/carrier" 2>/dev/null)" = 1 ] && iface=${n##*/} && why="link up" && break
    done
    i=$((i + 1)); [ -n "$why" ] || sleep 0.1
  done
  [ -n "$why" ] || { iface=$first; why="first interface (none has a link)"; }
fi
[ -n "$iface" ] && [ -e "/sys/class/net/$iface" ] || failed "no network interface ${iface:-(none found)}"
echo "init: interface $iface ($why)"

ip link set lo up
ip link set "$iface" up
if [ "$ipcfg" = dhcp ]; then
  udhcpc -i "$iface" -n -q -t 10 -T 1 -s /usr/share/udhcpc/default.script || failed "no DHCP lease on $iface"
else
  ip addr add "$ipcfg" dev "$iface" || failed "bad shoal.ip=$ipcfg"
fi
ip route add 224.0.0.0/4 dev "$iface" 2>/dev/null
# Without shoal.sender=, the session is found by its announcement (signed with the key built in).
if [ -n "$sender" ]; then
  from="--sender $sender" where="from $sender"
else
  from="--announce=$announce${object:+ --object $object}${skew:+ --max-clock-skew $skew}"
  where="from the session announced on $announce${object:+ for an object matching $object}"
fi
if [ -n "$out" ]; then into="--out $out" target=$out; else into=--target-from-announcement target="the disk the announcement names"; fi
echo "init: $iface $(ip -4 -o addr show dev "$iface" | awk '{print $4}'), receiving $where into $target"

auth="--key-file /etc/shoal/shoal.key"
if [ ! -f /etc/shoal/shoal.key ]; then
  [ "$insecure" = 1 ] || failed "no key in the initramfs (initramfs.sh --key) and no shoal.insecure=1"
  auth=--insecure
fi
# Resume state goes to the ramfs: a reboot starts over, which is what an installer wants.
set -f
shoal recv $from --connect-timeout "$wait" --iface "$iface" $auth $into --state-dir /run/shoal \
  --max-memory 64M --json /run/shoal/result.json --name "$(cat /sys/class/net/"$iface"/address)" --no-progress
rc=$?
set +f
[ $rc = 0 ] || failed "shoal recv exited $rc: $(cat /run/shoal/result.json 2>/dev/null || echo "no result; its log above says why")"

# shoal verified what it wrote; read it back from the disk itself (not the page cache) to be sure.
sha=$(grep -o '"sha256": *"[0-9a-f]*"' /run/shoal/result.json | grep -o '[0-9a-f]\{64\}')
bytes=$(grep -o '"bytes": *[0-9]*' /run/shoal/result.json | grep -o '[0-9]*$')
[ -n "$sha" ] && [ -n "$bytes" ] || failed "no sha256/bytes in the result: $(cat /run/shoal/result.json)"
[ -n "$out" ] || out=$(sed -n 's/.*"out": *"\([^"]*\)".*/\1/p' /run/shoal/result.json | head -n1)
[ -b "$out" ] || failed "the result names no block device as the output: $(cat /run/shoal/result.json)"
sync
echo 3 >/proc/sys/vm/drop_caches
got=$(head -c "$bytes" "$out" | sha256sum | cut -d' ' -f1)
[ "$got" = "$sha" ] || failed "read-back of $out: sha256 $got, shoal reported $sha"
result "DONE sha256=$sha bytes=$bytes"
finish 0
EOF
chmod 755 "$stage/init"

# Reproducible order and owners; device nodes come from devtmpfs at boot.
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"

size() { stat -c %s "$1"; }
echo "initramfs: $out: $(size "$out") bytes gzipped (shoal $(size "$stage/bin/shoal") bytes stripped," \
  "busybox $(size "$stage/bin/busybox"), libraries $(for l in $libs; do size "$stage$l"; done | awk '{n += $1} END {print n + 0}')," \
  "modules $(find "$stage/lib/modules" -name '*.ko' -printf '%s\n' | awk '{n += $1} END {print n + 0}'))"
