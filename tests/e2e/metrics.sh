#!/usr/bin/env bash
# e2e: `shoal send --metrics` serves Prometheus text while a session runs. Two scrapes during the data
# pass: the frame counter grows between them, the receiver is listed with done 0, and every sample
# line parses as `name{labels} value`.
source "$(dirname "$0")/lib.sh"
e2e_init metrics "$@"
need_root_netns
need_cmd python3

bed_up 1
make_object "$WORK/object.bin" 16
make_key "$WORK/key"
mkdir -p "$WORK/rx1"
bed_receiver rx1 1 "$WORK/rx1/object.bin"
bed_sender tx 1 "$WORK/object.bin" 30M --metrics 127.0.0.1:9102
scrape() {
  ip netns exec "$BED-tx" python3 -c '
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:9102/metrics", timeout=5).read().decode(), end="")' \
    >"$WORK/$1.txt" 2>"$WORK/$1.err"
}
sleep 1.5
scrape s1 || fail "first scrape failed: $(cat "$WORK/s1.err")"
sleep 1.5
scrape s2 || fail "second scrape failed: $(cat "$WORK/s2.err")"
expect_rc tx 0
expect_rc rx1 0
expect_same_sha "$WORK/object.bin" "$WORK/rx1/object.bin"
value() { awk -v n="$2" '$1 == n {print $2}' "$WORK/$1.txt"; }
f1=$(value s1 shoal_sender_frames_sent_total)
f2=$(value s2 shoal_sender_frames_sent_total)
log "frames sent at the two scrapes: $f1, $f2"
expect "the frame counter grows during the pass ($f1 -> $f2)" test "${f1:-0}" -lt "${f2:-0}"
expect "rx1 is listed, not done yet" grep -q '^shoal_sender_receiver_done{address="198.18.0.101:[0-9]*",name="rx1",path="multicast"} 0$' "$WORK/s1.txt"
expect "the object size is exported" grep -qx "shoal_sender_object_bytes $((16 << 20))" "$WORK/s1.txt"
bad=$(grep -v '^#' "$WORK/s2.txt" | grep -cvE '^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$' || true)
expect_eq "sample lines that do not parse" "$bad" 0
e2e_finish
