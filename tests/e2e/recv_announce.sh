#!/usr/bin/env bash
# e2e: `shoal recv --announce` on the namespace test bed, receivers that know no sender address.
#  1. bad options, each refused with exit 2 and a message naming the fix before anything is written:
#     --sender with --announce, neither of them, --object without --announce, --announce with
#     --insecure and TLS certificates;
#  2. rx1 waits with --announce --object 'image-*', rx2 with --announce --object 'other-*' and a
#     15 s --connect-timeout; one `shoal send --announce` of image-a.bin (default group): rx1 joins
#     the session it heard and its copy is byte-identical; rx2 says image-a.bin does not match its
#     --object, fails by itself (exit 1) saying no session to join was announced and what it heard,
#     and writes nothing (no copy, no temp file, no JSON); the sender's summary lists rx1 alone.
source "$(dirname "$0")/lib.sh"
e2e_init rca "$@"
need_root_netns
need_cmd jq cmp

bed_up 2
make_key "$WORK/key"
make_object "$WORK/image-a.bin" 16
mkdir -p "$WORK/rx1" "$WORK/rx2" "$WORK/bad"

log "1: bad options"
bad() {   # NAME recv options...: on the host; must fail at once
  local name=$1
  shift
  run_bg "$name" - 20 "$SHOAL" recv --out "$WORK/bad/$name.bin" --no-progress "$@"
}
bad both --sender "$BED_LISTEN" --announce --key-file "$WORK/key"
bad neither --key-file "$WORK/key"
bad object_only --sender "$BED_LISTEN" --object 'image-*' --key-file "$WORK/key"
bad insecure_tls --announce --insecure --tls-cert "$WORK/n.crt" --tls-key "$WORK/n.key" \
  --tls-ca "$WORK/ca.crt"
# Checked before the wait, not after --connect-timeout (30 s here, above the 20 s these may run).
run_bg no_dir - 20 "$SHOAL" recv --announce --key-file "$WORK/key" --out "$WORK/bad/missing/x.bin" --no-progress
run_bg no_iface - 20 "$SHOAL" recv --announce --key-file "$WORK/key" --iface no-such-if0 \
  --out "$WORK/bad/no_iface.bin" --no-progress
expect_rc no_dir 2
expect_log no_dir "--out: output directory '$WORK/bad/missing' does not exist"
expect_rc no_iface 2
expect_log no_iface "--iface: .*no-such-if0"
expect_rc both 2
expect_log both "--sender and --announce are alternatives: pass --sender ADDR:PORT .* or --announce"
expect_rc neither 2
expect_log neither "no sender: pass --sender ADDR:PORT .*, or --announce"
expect_rc object_only 2
expect_log object_only "--object chooses among announced sessions: it needs --announce"
expect_rc insecure_tls 2
expect_log insecure_tls "--insecure and --tls-cert/--tls-key/--tls-ca contradict each other.*drop --insecure"
expect_eq "files written by the refused commands" "$(find "$WORK/bad" -mindepth 1 | wc -l)" 0

log "2: two receivers wait for an announcement; only the one whose --object matches joins"
run_bg r1 rx1 120 "$SHOAL" recv --announce --object 'image-*' --iface v0 --key-file "$WORK/key" \
  --out "$WORK/rx1/image-a.bin" --name rx1 --json "$WORK/r1.json" --no-progress
run_bg r2 rx2 120 "$SHOAL" recv --announce --object 'other-*' --connect-timeout 15s --iface v0 \
  --key-file "$WORK/key" --out "$WORK/rx2/image-a.bin" --name rx2 --json "$WORK/r2.json" --no-progress
for r in r1 r2; do
  wait_log $r "waiting for a session announcement on 239.255.0.2:9001 via v0" 20 ||
    fail "$r did not start listening"
done
bed_sender tx 1 "$WORK/image-a.bin" 300M --announce
expect_rc tx 0
expect_rc r1 0
expect_log r1 "joining session [0-9a-f]{16} 'image-a.bin' .* announced by 198.18.0.1:9100" \
  "rx1 joined the announced session"
expect "rx1's copy is byte-identical" cmp -s "$WORK/image-a.bin" "$WORK/rx1/image-a.bin"
expect_eq "rx1 JSON outcome" "$(json "$WORK/r1.json" '.outcome')" "done"
expect_no_temp "$WORK/rx1"

expect_rc r2 1
expect_log r2 "'image-a.bin' from 198.18.0.1:9100: not joined: its object name does not match --object 'other-\*'" \
  "rx2 passed over image-a.bin"
expect_log r2 "no session to join was announced on 239.255.0.2:9001 within 15 s \(--connect-timeout\): heard 1 session\(s\) whose object name does not match --object 'other-\*' \(image-a.bin\)" \
  "rx2 failed saying what it heard"
expect_eq "files rx2 wrote" "$(find "$WORK/rx2" -mindepth 1 | wc -l)" 0
expect_no_file "$WORK/r2.json"
expect_eq "receivers in the sender's summary" "$(json "$WORK/tx.json" '.receivers | length')" 1
expect_eq "sender JSON outcome of rx1" "$(sender_outcome "$WORK/tx.json" rx1)" "done"
e2e_finish
