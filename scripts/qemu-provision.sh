#!/usr/bin/env bash
# PXE-like provisioning, end to end on one machine: a qemu guest boots a Debian kernel with the initramfs
# of scripts/initramfs.sh, gets an address by DHCP, finds the session `shoal send --announce` announces
# (no sender address on its kernel command line), receives the disk image and writes it to its virtio
# disk, verifies it and powers off. The host side lives in a network namespace this script
# creates (a bridge 198.18.0.1/24, a tap for the guest, busybox udhcpd, the sender) and removes.
#
# usage: qemu-provision.sh run [--shoal BIN] [--guest-shoal BIN] [--kernel DIR|VMLINUZ] [--size MIB]
#                              [--rate RATE] [--timeout SECS] [--accel tcg|kvm] [--mode announce|sender]
#                              [--until SECS] [--work DIR]
#          --shoal         the shoal binary, sender and guest (default: build-static/cli/shoal when it
#                          exists, else build/cli/shoal); shared libraries it needs go into the initramfs
#          --guest-shoal   another binary for the guest (it must speak the sender's protocol version)
#          --kernel        a kernel (a vmlinuz with modules in /lib/modules/VERSION) or a directory where
#                          fetch-kernel extracted one (default: see find-kernel)
#          --size          size of the random test image in MiB (default 32); the guest disk is 16 MiB larger
#          --rate          sender rate (default 200M)
#          --timeout       bound on the guest's whole run, boot to power-off (default 240 s)
#          --accel         tcg (software emulation, the default) or kvm
#          --mode          announce (the default): the sender announces with --target 'disk:serial=shoal-guest*',
#                          the guest's command line has shoal.object=image.*, no address and no shoal.out=
#                          (the guest's virtio disk has that serial); sender: shoal.sender=198.18.0.1:9100
#                          and shoal.out=/dev/vda
#          --until SECS    a late guest (send --until): the sender keeps the session joinable SECS seconds;
#                          a receiver in the host namespace gets the image first, and only once it is done
#                          does the guest boot, join the still-announced session and get it in a new cycle;
#                          the sender must then end by itself, every receiver verified
#          --work DIR      keep every file here (image, disk, initramfs, logs) instead of a temp dir
#        qemu-provision.sh fetch-kernel [DIR]   download Debian's cloud kernel package (apt-get download,
#                          not installed) and extract it into DIR (default $SHOAL_KERNEL_CACHE, else
#                          /var/cache/shoal/kernel)
#        qemu-provision.sh find-kernel [DIR]    print "VMLINUZ MODULE_DIR" of the kernel `run` would use:
#                          /boot/vmlinuz-VERSION with /lib/modules/VERSION, else one extracted into DIR
# Exit status: 0 when the disk holds the image (guest and host checks agree), 1 on failure, 77 when the
# machine cannot run it (not root, no qemu, no kernel, no busybox-static, no tun device), with the reason.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)   # scripts/ in the source tree, beside initramfs.sh

KERNEL_CACHE=${SHOAL_KERNEL_CACHE:-/var/cache/shoal/kernel}   # where fetch-kernel puts its kernel
KERNEL_PKG=linux-image-cloud-amd64   # the smallest Debian kernel with virtio drivers (as modules)
HOST_ADDR=198.18.0.1
GROUP=239.1.2.3:9000
CONTROL=$HOST_ADDR:9100
GUEST_MAC=52:54:00:5e:00:01   # named to the guest as a PXE loader would: BOOTIF=01-52-54-00-5e-00-01

die() { echo "qemu-provision: $*" >&2; exit 1; }
skip() { echo "qemu-provision: SKIP: $*" >&2; exit 77; }
usage() { sed -n '/^# usage:/,/^# Exit status/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# --- the guest kernel ---
fetch_kernel() {
  local dir=${1:-$KERNEL_CACHE} pkg deb tmp k
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian)"
  # The meta package names the versioned one, whose .deb holds vmlinuz and the modules.
  pkg=$(apt-cache depends "$KERNEL_PKG" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then   # no package lists yet (a fresh machine)
    apt-get update -q >/dev/null 2>&1 || true
    pkg=$(apt-cache depends "$KERNEL_PKG" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  fi
  [ -n "$pkg" ] || die "apt-cache knows no $KERNEL_PKG (run apt-get update first)"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
  deb=$(ls "$tmp"/*.deb)
  rm -rf "$dir.new" && mkdir -p "$dir.new"
  dpkg-deb -x "$deb" "$dir.new"
  # modules.dep is made by the package's postinst, which does not run here: make it.
  command -v depmod >/dev/null || die "needs depmod (apt-get install kmod)"
  for k in "$dir.new"/lib/modules/*; do depmod -b "$dir.new" "${k##*/}"; done
  rm -rf "$tmp" "$dir" && mv "$dir.new" "$dir"
  echo "qemu-provision: $pkg extracted into $dir ($(du -sh "$dir" | cut -f1)); nothing was installed"
}

# Prints "VMLINUZ MODDIR" or fails with the reason (exit 77).
find_kernel() {   # [DIR]: only DIR when given, else /boot then the cache
  local dir=${1:-$KERNEL_CACHE} boot=/boot k ver
  [ -n "${1:-}" ] && boot=/nonexistent
  for k in "$boot"/vmlinuz-*; do
    [ -r "$k" ] || continue
    ver=${k#/boot/vmlinuz-}
    [ -f "/lib/modules/$ver/modules.dep" ] && { echo "$k /lib/modules/$ver"; return 0; }
  done
  for k in "$dir"/boot/vmlinuz-*; do
    [ -r "$k" ] || continue
    ver=${k#"$dir"/boot/vmlinuz-}
    [ -f "$dir/lib/modules/$ver/modules.dep" ] && { echo "$k $dir/lib/modules/$ver"; return 0; }
  done
  skip "no guest kernel: no readable /boot/vmlinuz-* with /lib/modules, none extracted in $dir" \
    "(run: scripts/qemu-provision.sh fetch-kernel)"
}

# --- the run ---
NS="" W="" PIDS=() PID_send="" PID_qemu=""   # PID_NAME: set by bg NAME
cleanup() {
  local rc=$? p
  trap - EXIT
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ -n "$NS" ]; then
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || echo "qemu-provision: could not delete namespace $NS" >&2
  fi
  [ -n "$W" ] && [ -z "$KEEP" ] && rm -rf "$W"
  exit "$rc"
}

# Runs "$@" in the background (bounded by timeout) with output in $W/NAME.log; its PID in PID_NAME.
bg() {
  local name=$1 secs=$2
  shift 2
  timeout -k 5 "$secs" "$@" >"$W/$name.log" 2>&1 &
  PIDS+=("$!")
  printf -v "PID_$name" %s "$!"
}

run() {
  local shoal=$HERE/../build-static/cli/shoal guest="" kernel="" size=32 rate=200M tmo=240 accel=tcg
  local mode=announce until=""
  [ -x "$shoal" ] || shoal=$HERE/../build/cli/shoal
  KEEP=""
  while (($#)); do
    case $1 in
      --shoal) shoal=${2:?}; shift 2 ;;
      --guest-shoal) guest=${2:?}; shift 2 ;;
      --kernel) kernel=${2:?}; shift 2 ;;
      --size) size=${2:?}; shift 2 ;;
      --rate) rate=${2:?}; shift 2 ;;
      --timeout) tmo=${2:?}; shift 2 ;;
      --accel) accel=${2:?}; shift 2 ;;
      --mode) mode=${2:?}; shift 2 ;;
      --until) until=${2:?}; shift 2 ;;
      --work) KEEP=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $size =~ ^[0-9]+$ ]] && ((size >= 1 && size <= 4096)) || die "--size must be 1..4096 MiB"
  [[ $tmo =~ ^[0-9]+$ ]] || die "--timeout must be seconds"
  [[ -z $until || $until =~ ^[0-9]+$ ]] || die "--until must be seconds"
  # How the guest finds the session: by the sender's announcement, or told the sender's address.
  local announce=() guest_args
  case $mode in
    # By announcement, the disk too is named there (send --target): the guest has no shoal.out= and
    # writes to the one disk whose serial matches (the virtio disk's, set below).
    announce) announce=(--announce --target "disk:serial=shoal-guest*") guest_args="shoal.object=image.*" ;;
    sender) guest_args="shoal.sender=$CONTROL shoal.out=/dev/vda" ;;
    *) die "--mode must be announce or sender" ;;
  esac
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, bridge, tap device)"
  local c
  for c in ip qemu-system-x86_64 timeout sha256sum cmp; do command -v "$c" >/dev/null || skip "'$c' is not installed"; done
  ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here"
  [ -c /dev/net/tun ] || skip "no /dev/net/tun (tap devices)"
  [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || skip "no static /bin/busybox (apt-get install busybox-static)"
  [ -x "$shoal" ] || die "no shoal binary at $shoal"
  guest=${guest:-$shoal}
  local vmlinuz moddir
  if [ -f "$kernel" ]; then
    vmlinuz=$kernel moddir=/lib/modules/${kernel##*/vmlinuz-}
  else
    read -r vmlinuz moddir < <(find_kernel "$kernel") || exit 77
  fi
  [ -n "${vmlinuz:-}" ] || skip "no guest kernel (run: scripts/qemu-provision.sh fetch-kernel)"
  # TCG (software emulation) unless asked: a /dev/kvm that opens is no proof KVM works (nested, as on this
  # project's machines, it hung the guest with "KVM internal error ... emulation failure").
  local cpu=max
  case $accel in tcg) ;; kvm) cpu=host ;; *) die "--accel must be kvm or tcg" ;; esac

  trap cleanup EXIT
  trap 'exit 130' INT TERM
  if [ -n "$KEEP" ]; then mkdir -p "$KEEP"; W=$(cd "$KEEP" && pwd); else W=$(mktemp -d "${TMPDIR:-/tmp}/shoal-provision.XXXXXX"); fi
  echo "qemu-provision: work dir $W, kernel $vmlinuz, accel $accel, mode $mode, guest binary $guest"

  # The image (random: a misplaced block cannot pass for a right one), the key, the guest's empty disk.
  head -c "$((size << 20))" /dev/urandom >"$W/image.img"
  (umask 077 && "$shoal" keygen >"$W/key")
  rm -f "$W/disk.img" && truncate -s "$(((size + 16) << 20))" "$W/disk.img"
  "$HERE/initramfs.sh" "$W/initrd.gz" --shoal "$guest" --modules "$moddir" --key "$W/key" \
    >"$W/initramfs.log" 2>&1 || { cat "$W/initramfs.log" >&2; die "initramfs.sh failed"; }
  cat "$W/initramfs.log"

  # Host side: namespace, bridge, tap; DHCP for the guest. Short and unique name: this shell's PID.
  NS=shoalpv$$
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  ip -n "$NS" link add br0 type bridge mcast_snooping 0 stp_state 0 forward_delay 0
  ip -n "$NS" addr add "$HOST_ADDR/24" dev br0
  ip -n "$NS" link set br0 up
  ip -n "$NS" tuntap add dev tap0 mode tap
  ip -n "$NS" link set tap0 master br0 up
  ip -n "$NS" route add 224.0.0.0/4 dev br0
  printf '%s\n' "interface br0" "start 198.18.0.100" "end 198.18.0.199" "max_leases 100" \
    "lease_file $W/udhcpd.leases" "pidfile $W/udhcpd.pid" "option subnet 255.255.255.0" \
    "option lease 600" >"$W/udhcpd.conf"
  touch "$W/udhcpd.leases"
  bg dhcp $((tmo + 60)) ip netns exec "$NS" /bin/busybox udhcpd -f "$W/udhcpd.conf"

  local late=()
  [ -n "$until" ] && late=(--until "${until}s" --loopback)   # loopback: the namespace's own receiver
  bg send $((tmo + ${until:-0} + 30)) ip netns exec "$NS" "$shoal" send "$W/image.img" --group "$GROUP" \
    --iface br0 --listen "$CONTROL" --rate "$rate" --min-receivers 1 --max-wait "${tmo}s" \
    --key-file "$W/key" --json "$W/send.json" --no-progress "${announce[@]}" "${late[@]}"
  local erc=0
  if [ -n "$until" ]; then
    # The first machine: a receiver beside the sender. The guest boots only once it is done.
    bg early 120 ip netns exec "$NS" "$shoal" recv --sender "$CONTROL" --iface br0 --key-file "$W/key" \
      --out "$W/early.img" --name early --json "$W/early.json"
    wait "$PID_early" || erc=$?
    echo "qemu-provision: the first receiver exited $erc; now the late guest boots"
  fi

  # The guest: no default devices, serial console to a file, virtio disk and NIC; power-off ends qemu.
  local t0=$SECONDS
  bg qemu "$tmo" ip netns exec "$NS" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -m 512 -smp 1 \
    -nodefaults -display none -no-reboot -serial "file:$W/console.log" \
    -kernel "$vmlinuz" -initrd "$W/initrd.gz" \
    -append "console=ttyS0 panic=-1 $guest_args shoal.ip=dhcp BOOTIF=01-${GUEST_MAC//:/-}" \
    -drive "file=$W/disk.img,format=raw,if=none,id=disk0,cache=writeback" \
    -device virtio-blk-pci,drive=disk0,serial=shoal-guest-disk \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=$GUEST_MAC
  local qrc=0 src=0
  wait "$PID_qemu" || qrc=$?
  local secs=$((SECONDS - t0))
  # A guest that ended without the image leaves the sender waiting for it: give it 30 s (and what is
  # left of --until), then stop it.
  for _ in $(seq 1 $((300 + ${until:-0} * 10))); do kill -0 "$PID_send" 2>/dev/null || break; sleep 0.1; done
  kill -TERM "$PID_send" 2>/dev/null || true
  wait "$PID_send" || src=$?

  # Verdict from three independent places: the guest's console, the sender's summary, the disk file.
  local want line got fails=0
  want=$(sha256sum <"$W/image.img" | cut -d' ' -f1)
  line=$(grep -a 'SHOAL-PROVISION:' "$W/console.log" | tail -n1 | tr -d '\r' || true)
  echo "qemu-provision: guest ran ${secs}s (qemu exit $qrc), sender exit $src; guest says: ${line:-nothing}"
  [ "$qrc" = 0 ] || { echo "qemu-provision: qemu exit $qrc (124 = hit --timeout ${tmo}s)"; fails=1; }
  [ "$line" = "SHOAL-PROVISION: DONE sha256=$want bytes=$((size << 20))" ] ||
    { echo "qemu-provision: the guest did not report the image's sha256 $want"; fails=1; }
  [ "$src" = 0 ] || { echo "qemu-provision: shoal send exited $src"; fails=1; }
  if [ -n "$until" ]; then
    [ "$erc" = 0 ] || { echo "qemu-provision: the first receiver exited $erc"; fails=1; }
    cmp -s "$W/early.img" "$W/image.img" || { echo "qemu-provision: the first receiver's copy differs"; fails=1; }
  fi
  got=$(head -c "$((size << 20))" "$W/disk.img" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "qemu-provision: disk's first $size MiB: sha256 $got, image $want"; fails=1; }
  cmp -s -n $((16 << 20)) <(tail -c +$(((size << 20) + 1)) "$W/disk.img") /dev/zero ||
    { echo "qemu-provision: the disk changed past the image's end"; fails=1; }
  if ((fails)); then
    echo "----- console (last 30 lines) -----"; tr -d '\r' <"$W/console.log" | tail -n 30
    echo "----- sender -----"; tail -n 20 "$W/send.log"
    echo "qemu-provision: FAILED"
    return 1
  fi
  echo "qemu-provision: OK: the disk's first $size MiB have sha256 $want, the rest is untouched"
}

case ${1:-} in
  run) shift; run "$@" ;;
  fetch-kernel) fetch_kernel "${2:-}" ;;
  find-kernel) find_kernel "${2:-}" ;;
  *) usage ;;
esac
