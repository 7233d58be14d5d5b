#!/usr/bin/env bash
# e2e: `send --compress zstd` of a 64 MiB sparse image (mostly zeros, some random and some
# compressible regions) on the namespace test bed, 3 receivers: rx1 into a file, rx2 onto a loop
# device full of junk with --zero-holes, rx3 onto another such device without it.
# - every receiver exits 0 and the sender too;
# - rx1's file and rx2's device have the image's SHA-256; rx1's file is sparse (du < size);
# - rx3's device holds the image's data regions, and its junk where the image has holes (skipped);
# - fewer bytes went on the wire than the image holds (sender JSON frames_sent x IP-level frame size);
# - no temporary file is left (beside --out, or in --state-dir for the devices).
source "$(dirname "$0")/lib.sh"
e2e_init zst "$@"
need_root_netns
need_cmd jq losetup du cmp

LOOPS=()
cleanup_loops() { for d in "${LOOPS[@]}"; do losetup -d "$d" 2>/dev/null || true; done; }
trap 'cleanup_loops; e2e_cleanup' EXIT
MIB=$((1 << 20))
SIZE=$((64 * MIB))
attach() {   # FILE: 64 MiB of junk on a loop device, prints the device
  head -c "$SIZE" /dev/urandom >"$1"
  losetup -f --show "$1"
}
DEV2=$(attach "$WORK/dev2.img") || skip "cannot attach a loop device (losetup -f failed)"
LOOPS+=("$DEV2")
DEV3=$(attach "$WORK/dev3.img") || skip "cannot attach a second loop device"
LOOPS+=("$DEV3")
cp "$WORK/dev3.img" "$WORK/dev3.before"

IMG=$WORK/disk.img
truncate -s "$SIZE" "$IMG"
put() {   # OFFSET_MIB LEN_MIB SOURCE: a region of the image from SOURCE
  head -c "$(($2 * MIB))" "$3" | dd of="$IMG" bs=1M seek="$1" conv=notrunc status=none
}
put 5 2 /dev/urandom
put 20 1 /dev/urandom
yes "shoal multicast sparse image" | put 30 2 /dev/stdin
put 47 3 /dev/urandom
# Data regions (offset MiB, length MiB) and one hole (60 MiB, 1 MiB) for the device checks.
REGIONS="5:2 20:1 30:2 47:3"

N=3
bed_up $N
make_key "$WORK/key"
mkdir -p "$WORK/rx1" "$WORK/state2" "$WORK/state3"
bed_receiver rx1 1 "$WORK/rx1/disk.img"
bed_receiver rx2 2 "$DEV2" --state-dir "$WORK/state2" --zero-holes
bed_receiver rx3 3 "$DEV3" --state-dir "$WORK/state3"
bed_sender tx $N "$IMG" 300M --compress zstd

expect_rc tx 0
expect_log tx "compressed 64.0 MiB to" "the sender compressed the image"
for k in 1 2 3; do expect_rc "rx$k" 0; done
expect_same_sha "$IMG" "$WORK/rx1/disk.img"
alloc=$(du --block-size=1 "$WORK/rx1/disk.img" | cut -f1)
expect "rx1's file is sparse (du $alloc < $SIZE bytes)" test "$alloc" -lt "$SIZE"
expect "rx2's device equals the image (holes zeroed)" cmp -n "$SIZE" "$IMG" "$DEV2"
for r in $REGIONS; do
  off=$((${r%:*} * MIB)) len=$((${r#*:} * MIB))
  expect "rx3's device holds the data at ${r%:*} MiB" cmp -n "$len" -i "$off:$off" "$IMG" "$DEV3"
done
off=$((60 * MIB))
expect "rx3's device kept its old bytes in a hole (skipped)" cmp -n "$MIB" -i "$off:$off" "$WORK/dev3.before" "$DEV3"
frames=$(json "$WORK/tx.json" .frames_sent)
# IP-level bytes per frame: 32-byte header + 1408-byte symbol + 16-byte tag + 28 bytes of IP/UDP.
wire=$((${frames:-0} * (32 + 1408 + 16 + 28)))
expect "fewer bytes on the wire ($wire in $frames frames) than the image ($SIZE)" test "${frames:-0}" -gt 0 -a "$wire" -lt "$SIZE"
left=$(find "$WORK/rx1" "$WORK/state2" "$WORK/state3" -name '*shoal*' 2>/dev/null)
expect_eq "temporary files left" "$left" ""
e2e_finish
