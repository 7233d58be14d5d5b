#!/usr/bin/env bash
# e2e (issue #14 item 4, raw objects): all-zero blocks cost no data. A 24 MiB raw image whose middle
# 16 MiB are a hole goes to two receivers: rx1 writes a new file, rx2 a loop device full of 0xff.
# The sender's first pass leaves out every block that lies wholly in the hole (its JSON counts them
# in zero_blocks and sends no frame for them); each receiver fills them in from their hashes
# (blocks_zero in its JSON), rx2 by writing zeros over what the device held; both copies equal
# the image.
source "$(dirname "$0")/lib.sh"
e2e_init zrb "$@"
need_root_netns
need_cmd jq losetup cmp

LOOP=""
trap '[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null; e2e_cleanup' EXIT
head -c 40M /dev/zero | tr '\0' '\377' >"$WORK/disk.img"
LOOP=$(losetup -f --show "$WORK/disk.img") || skip "cannot attach a loop device (losetup -f failed)"

head -c 4M /dev/urandom >"$WORK/image.img"
truncate -s 20M "$WORK/image.img"
head -c 4M /dev/urandom >>"$WORK/image.img"
SIZE=$(stat -c %s "$WORK/image.img")
# Blocks of 64 x 1408 bytes wholly inside the hole [4 MiB, 20 MiB).
BLOCK=$((64 * 1408))
first=$((((4 << 20) + BLOCK - 1) / BLOCK))
end=$(((20 << 20) / BLOCK))
ZERO=$((end - first))
BLOCKS=$(((SIZE + BLOCK - 1) / BLOCK))
log "$SIZE bytes, $BLOCKS blocks, $ZERO of them all zeros"

bed_up 2
make_key "$WORK/key"
bed_receiver rx1 1 "$WORK/copy.img"
bed_receiver rx2 2 "$LOOP" --state-dir "$WORK/state"
bed_sender tx 2 "$WORK/image.img" 300M
expect_rc tx 0
expect_rc rx1 0
expect_rc rx2 0
expect "rx1's copy equals the image" cmp -s "$WORK/image.img" "$WORK/copy.img"
expect "the device's first $SIZE bytes equal the image (zeros written over 0xff)" \
  cmp -s -n "$SIZE" "$WORK/image.img" "$LOOP"
expect_eq "all-zero blocks the sender left out" "$(json "$WORK/tx.json" .zero_blocks)" "$ZERO"
expect_eq "passes" "$(json "$WORK/tx.json" .passes)" 1
sent=$(json "$WORK/tx.json" .frames_sent)
expect "frames sent ($sent) at most the other blocks' $(((BLOCKS - ZERO) * 64)) symbols" \
  test "$sent" -le $(((BLOCKS - ZERO) * 64))
expect_eq "rx1 filled in from hashes" "$(json "$WORK/rx1.json" .blocks_zero)" "$ZERO"
expect_eq "rx2 filled in from hashes" "$(json "$WORK/rx2.json" .blocks_zero)" "$ZERO"
e2e_finish
