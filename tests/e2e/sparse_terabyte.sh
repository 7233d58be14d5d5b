#!/usr/bin/env bash
# e2e (issue #14 item 4): a 1 TiB sparse file end to end, holes cheap on both sides. The file holds
# 1 MiB of random data at its start, in its middle and at its end, and holes elsewhere. Sent with
# --compress zstd, the holes are found by SEEK_DATA (never read) and not sent at all; the receiver
# writes the data regions and leaves the rest a hole. Loopback only (TTL 0, IP_MULTICAST_LOOP), no
# root, no disk space beyond the data. Checks: sender and receiver exit 0; the copy is 1 TiB long
# and sparse (a few MiB allocated); its three data regions equal the source's; the object on the
# wire was small (the sender's JSON bytes, under 32 MiB).
source "$(dirname "$0")/lib.sh"
e2e_init tib "$@"
need_cmd timeout ss ip jq dd cmp stat

loopback_session
make_key "$WORK/key"
MIB=$((1 << 20))
TIB=$((1 << 40))
SRC=$WORK/disk.img
truncate -s "$TIB" "$SRC" 2>/dev/null || skip "this filesystem cannot hold a 1 TiB sparse file"
OFFS="0 $((TIB / 2)) $((TIB - MIB))"
for off in $OFFS; do
  head -c "$MIB" /dev/urandom | dd of="$SRC" bs=1M seek="$((off / MIB))" conv=notrunc status=none
done
mkdir -p "$WORK/rx"

run_bg rx - 240 "$SHOAL" recv --sender "127.0.0.1:$LISTEN_PORT" --key-file "$WORK/key" \
  --out "$WORK/rx/disk.img" --json "$WORK/rx.json"
run_bg tx - 240 "$SHOAL" send "$SRC" --compress zstd --group "$GROUP:$GROUP_PORT" --ttl 0 \
  --loopback --listen "127.0.0.1:$LISTEN_PORT" --rate 500M --min-receivers 1 --max-wait 60s \
  --key-file "$WORK/key" --no-progress --json "$WORK/tx.json"

expect_rc tx 0
expect_rc rx 0
expect_log tx "compressed .* 1048576 chunks of .*, 1048573 holes" \
  "every chunk but the three with data is a hole"
expect_eq "copy size" "$(stat -c %s "$WORK/rx/disk.img" 2>/dev/null)" "$TIB"
allocated=$(($(stat -c %b "$WORK/rx/disk.img" 2>/dev/null || echo 0) * 512))
expect "the copy is sparse: $allocated bytes allocated for 1 TiB" test "$allocated" -lt $((64 * MIB))
for off in $OFFS; do
  expect "data region at $off equals the source's" cmp -s \
    <(dd if="$SRC" bs=1M skip="$((off / MIB))" count=1 status=none) \
    <(dd if="$WORK/rx/disk.img" bs=1M skip="$((off / MIB))" count=1 status=none)
done
sent=$(json "$WORK/tx.json" .bytes)
expect "the object on the wire was small (${sent:-?} bytes)" test "${sent:-$TIB}" -lt $((32 * MIB))
expect_no_temp "$WORK/rx"
e2e_finish
