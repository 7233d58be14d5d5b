#!/usr/bin/env bash
# e2e: receivers write to block devices (loop devices over files in the test's directory). A device
# large enough receives a verified copy in place (its first SIZE bytes equal the object); a device too
# small is refused before any data moves, with a message naming the sizes; the sender reports it.
source "$(dirname "$0")/lib.sh"
e2e_init blk "$@"
need_root_netns
need_cmd jq
need_cmd losetup

LOOPS=()
cleanup_loops() { for d in "${LOOPS[@]}"; do losetup -d "$d" 2>/dev/null || true; done; }
trap 'cleanup_loops; e2e_cleanup' EXIT
attach() {   # FILE MIB -> prints the loop device
  truncate -s "$2M" "$1"
  losetup -f --show "$1"
}
BIG=$(attach "$WORK/big.img" 40) || skip "cannot attach a loop device (losetup -f failed)"
LOOPS+=("$BIG")
SMALL=$(attach "$WORK/small.img" 8) || skip "cannot attach a second loop device"
LOOPS+=("$SMALL")

N=2
bed_up $N
make_object "$WORK/object.bin" 24
make_key "$WORK/key"
SIZE=$(stat -c %s "$WORK/object.bin")

bed_receiver rx1 1 "$BIG" --state-dir "$WORK/state"
bed_receiver rx2 2 "$SMALL" --state-dir "$WORK/state"
bed_sender tx $N "$WORK/object.bin" 300M

expect_rc rx1 0
expect "the device holds the object" cmp -n "$SIZE" "$WORK/object.bin" "$BIG"
expect_rc_failed rx2
expect_log rx2 "use a larger device" "says the device is too small"
expect_rc tx 1
expect_eq "sender JSON outcome of rx1" "$(sender_outcome "$WORK/tx.json" rx1)" done
expect_eq "sender JSON outcome of rx2" "$(sender_outcome "$WORK/tx.json" rx2)" failed
e2e_finish
