#!/usr/bin/env bash
# e2e: peer repair (issue #18, item 2). The slow-receiver bed: 3 receivers, the sender's port capped at
# 300 Mbit/s, rx1's bridge port at 50 Mbit/s, so rx1 is moved to the unicast lane after the first pass.
#  1. rx2 and rx3 run with --serve-peers: rx1's unicast lane is served by a peer, not the sender. Every
#     copy verifies, the sender exits 0, its --events carry a peer_assign record for rx1, its JSON
#     counts peer passes for rx1 and the sender's own unicast bytes to rx1 stay under a quarter of the
#     object (without peers they are most of it), a serving receiver logs what it served, and the
#     fast receiver rx1 does not need is let go (exits) while rx1 still receives.
#  2. The same, and the serving peers are killed as soon as rx1 is assigned one: rx1 reports the peer
#     failed, the sender serves the rest itself, every copy still verifies and the sender exits 0
#     (the killed peers had verified before they served).
#  3. --no-peer-repair at the sender: offers are declined, the receivers exit when verified, and the
#     sender serves rx1 itself.
#  4. A segment of 4 receivers behind a router the multicast does not cross (--scope auto serves them
#     by unicast), every receiver with --serve-peers: all verify, the sender exits 0, peers served
#     some of the remote receivers' passes, and the sender's own unicast bytes to them stay under 3
#     copies of the object (without peers: 4).
# No timing thresholds: outcomes are exit codes, hashes, JSON fields, events and log lines.
source "$(dirname "$0")/lib.sh"
e2e_init peers "$@"
need_root_netns
need_cmd jq

N=3
MIB=24
bed_up $N
"$TESTBED" segment "$BED" 1 4 >/dev/null || fail "cannot add segment 1 to the test bed"
"$TESTBED" cap "$BED" 300mbit || fail "cannot set the cap"
"$TESTBED" portcap "$BED" 1 50mbit || fail "cannot limit rx1's port"
make_object "$WORK/object.bin" $MIB
make_key "$WORK/key"
bytes=$((MIB * 1024 * 1024))

start_receivers() {   # PREFIX [extra options for rx2 and rx3]
  local p=$1
  shift
  for k in $(seq 1 $N); do mkdir -p "$WORK/$p-rx$k"; done
  bed_receiver "$p-rx1" 1 "$WORK/$p-rx1/object.bin"
  for k in 2 3; do bed_receiver "$p-rx$k" "$k" "$WORK/$p-rx$k/object.bin" "$@"; done
}
all_verified() {   # PREFIX
  for k in $(seq 1 $N); do
    expect_rc "$1-rx$k" 0
    expect_same_sha "$WORK/object.bin" "$WORK/$1-rx$k/object.bin"
  done
}
rx1() { json "$WORK/$1-tx.json" ".receivers[]? | select(.name == \"rx1\") | .$2"; }

log "1: rx2 and rx3 serve peers; rx1 is slow"
start_receivers a --serve-peers
bed_sender a-tx $N "$WORK/object.bin" 300M --events "$WORK/a-tx.events"
# The fast receiver that rx1 does not need is let go at once: it exits while rx1 still receives.
wait_log a-tx "peer rx[23] is let go" 60 || fail "no idle peer was let go"
idle=$(grep -oE "peer rx[23] is let go" "$WORK/a-tx.log" | head -n1 | grep -oE "rx[23]")
expect_rc "a-$idle" 0
if kill -0 "${E2E_PID[a-rx1]}" 2>/dev/null && [ ! -e "$WORK/a-rx1.json" ]; then
  pass "$idle (idle peer) exited while rx1 was still receiving"
else
  fail "rx1 had ended before the idle peer $idle exited"
fi
expect_rc a-tx 0
all_verified a
expect_eq "rx1's path" "$(rx1 a path)" unicast
expect "the sender assigned rx1 a peer (--events peer_assign)" \
  grep -q '"event":"peer_assign".*"receiver":"rx1"' <(jq -c 'select(.event == "peer_assign")' "$WORK/a-tx.events")
passes=$(rx1 a peer_passes)
expect "the sender's JSON counts peer passes for rx1 ($passes)" test "${passes:-0}" -ge 1
sent=$(rx1 a repair_bytes_unicast)
log "the sender's own unicast bytes to rx1: $sent of $bytes"
expect "the sender sent rx1 under a quarter of the object itself ($sent bytes)" \
  test -n "$sent" -a "$((${sent:-$bytes} * 4))" -lt "$bytes"
expect_log a-tx "takes unicast pass .* from peer rx[23]" "the sender's log names the serving peer"
expect "a serving receiver logged what it served" \
  grep -qE "served peers [1-9][0-9]* pass\(es\), [1-9][0-9]* symbols" "$WORK/a-rx2.log" "$WORK/a-rx3.log"
expect_log a-rx1 "taking pass [0-9]* .* from peer" "rx1 logged the peer it took a pass from"
taken=$(json "$WORK/a-rx1.json" .peer_passes_taken)
expect "rx1's JSON counts the passes it took from peers ($taken)" test "${taken:-0}" -ge 1
served=$(( $(json "$WORK/a-rx2.json" .peer_symbols_served) + $(json "$WORK/a-rx3.json" .peer_symbols_served) ))
expect_eq "symbols the peers served = symbols rx1 took" "$served" "$(json "$WORK/a-rx1.json" .peer_symbols_taken)"

log "2: the serving peers are killed once rx1 is assigned one"
start_receivers b --serve-peers
bed_sender b-tx $N "$WORK/object.bin" 300M
wait_log b-rx1 "taking pass" 60 || fail "rx1 was never assigned a peer"
for k in 2 3; do   # at once: an idle peer may have been let go (and exited) already
  pid=$(pgrep -P "${E2E_PID[b-rx$k]}" | head -n1) || continue
  kill -KILL "$pid" 2>/dev/null || true
done
expect_rc b-tx 0
expect_rc b-rx1 0
expect_same_sha "$WORK/object.bin" "$WORK/b-rx1/object.bin"
for k in 2 3; do expect_same_sha "$WORK/object.bin" "$WORK/b-rx$k/object.bin"; done
expect_log b-rx1 "did not serve pass .* the sender serves it instead" "rx1 reported the peer failed"
expect_log b-tx "serves no more" "the sender stopped assigning the killed peer"
expect_eq "sender JSON ok" "$(json "$WORK/b-tx.json" .ok)" $N

log "3: --no-peer-repair declines the offers"
start_receivers c --serve-peers
bed_sender c-tx $N "$WORK/object.bin" 300M --no-peer-repair --events "$WORK/c-tx.events"
expect_rc c-tx 0
all_verified c
expect "the sender's events were written (its end among them)" \
  grep -q '"event":"end"' "$WORK/c-tx.events"
expect "no peer was assigned" test -z "$(jq -c 'select(.event == "peer_assign")' "$WORK/c-tx.events")"
sent=$(rx1 c repair_bytes_unicast)
expect "the sender served rx1 itself ($sent bytes of unicast)" test "${sent:-0}" -gt 0

log "4: a segment beyond the multicast, every receiver serving"
start_receivers d --serve-peers
for k in 1 2 3 4; do
  mkdir -p "$WORK/d-s1n$k"
  run_bg "d-s1n$k" "s1n$k" 120 "$SHOAL" recv --sender "$BED_LISTEN" --iface v0 --key-file "$WORK/key" \
    --out "$WORK/d-s1n$k/object.bin" --name "s1n$k" --json "$WORK/d-s1n$k.json" --serve-peers
done
bed_sender d-tx $((N + 4)) "$WORK/object.bin" 300M
expect_rc d-tx 0
all_verified d
for k in 1 2 3 4; do
  expect_rc "d-s1n$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/d-s1n$k/object.bin"
done
remote='[.receivers[]? | select(.name | startswith("s1n"))]'
expect_eq "the remote receivers' paths" "$(json "$WORK/d-tx.json" "$remote | map(.path) | unique | join(\",\")")" unicast
peer_passes=$(json "$WORK/d-tx.json" "$remote | map(.peer_passes // 0) | add")
expect "peers served remote receivers ($peer_passes passes)" test "${peer_passes:-0}" -ge 1
sent=$(json "$WORK/d-tx.json" "$remote | map(.repair_bytes_unicast) | add")
log "the sender's own unicast bytes to the segment: $sent ($bytes per copy)"
expect "the sender sent the segment under 3 copies itself ($sent bytes)" \
  test -n "$sent" -a "${sent:-0}" -lt "$((3 * bytes))"
e2e_finish
