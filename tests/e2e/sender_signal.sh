#!/usr/bin/env bash
# e2e (issue #17 item 4): Ctrl-C or `kill` on the sender ends the session in order. Loopback only
# (TTL 0, IP_MULTICAST_LOOP), no root.
# 1. SIGINT mid-transfer: the sender exits 130 (128 + SIGINT) and still writes its summary and
#    --json (aborted, the signal, every receiver failed with the reason); each receiver is told
#    (Bye "aborted"), exits 1 saying so, keeps its verified blocks as partial data for a resume and
#    leaves nothing under the final name.
# 2. SIGTERM while waiting for receivers: exit 143, the JSON says aborted.
source "$(dirname "$0")/lib.sh"
e2e_init sig "$@"
need_cmd timeout ss ip jq pgrep

loopback_session
make_object "$WORK/object.bin" 32
make_key "$WORK/key"

for k in 1 2; do
  mkdir -p "$WORK/rx$k"
  run_bg "rx$k" - 120 "$SHOAL" recv --sender "127.0.0.1:$LISTEN_PORT" --key-file "$WORK/key" \
    --out "$WORK/rx$k/object.bin" --name "rx$k" --json "$WORK/rx$k.json"
done
# 32 MiB at 40 Mbit/s: about 7 s of data, so the signal lands mid-transfer.
run_bg tx - 120 "$SHOAL" send "$WORK/object.bin" --group "$GROUP:$GROUP_PORT" --ttl 0 --loopback \
  --listen "127.0.0.1:$LISTEN_PORT" --rate 40M --min-receivers 2 --max-wait 60s \
  --key-file "$WORK/key" --no-progress --json "$WORK/tx.json"
for _ in $(seq 1 300); do
  grep -q "first data frame" "$WORK/tx.log" 2>/dev/null && break
  sleep 0.1
done
sleep 2
pid=$(cmd_pid tx) && kill -INT "$pid" && log "SIGINT to the sender (pid $pid) two seconds into the data"

expect_rc tx 130
expect_log tx "SIGINT: aborting the session" "the sender says why it stops"
expect_log tx "aborted by SIGINT" "the summary says the session was aborted"
expect_eq "sender JSON aborted" "$(json "$WORK/tx.json" .aborted)" true
expect_eq "sender JSON signal" "$(json "$WORK/tx.json" .signal)" SIGINT
expect_eq "sender JSON failed" "$(json "$WORK/tx.json" .failed)" 2
expect_eq "sender JSON reasons" "$(json "$WORK/tx.json" '[.receivers[].reason] | unique | .[]')" \
  "aborted: the sender was stopped (SIGINT)"
for k in 1 2; do
  expect_rc "rx$k" 1
  expect_log "rx$k" "sender ended the session: aborted: the sender was stopped \(SIGINT\)" \
    "rx$k was told the session was aborted"
  expect_no_file "$WORK/rx$k/object.bin"
  expect "rx$k kept its verified blocks for a resume" test -s "$WORK/rx$k/.object.bin.shoal-part"
  expect "rx$k kept its resume state" test -s "$WORK/rx$k/.object.bin.shoal-state"
done

# 2. Nobody has joined yet: SIGTERM (what systemd and `kill` send).
run_bg wait - 60 "$SHOAL" send "$WORK/object.bin" --group "$GROUP:$GROUP_PORT" --ttl 0 --loopback \
  --listen "127.0.0.1:$LISTEN_PORT" --min-receivers 3 --max-wait 50s --key-file "$WORK/key" \
  --no-progress --json "$WORK/wait.json"
for _ in $(seq 1 100); do
  grep -q "waiting for 3 receiver" "$WORK/wait.log" 2>/dev/null && break
  sleep 0.1
done
pid=$(cmd_pid wait) && kill -TERM "$pid"
expect_rc wait 143
expect_eq "waiting sender JSON aborted" "$(json "$WORK/wait.json" .aborted)" true
expect_eq "waiting sender JSON signal" "$(json "$WORK/wait.json" .signal)" SIGTERM
e2e_finish
