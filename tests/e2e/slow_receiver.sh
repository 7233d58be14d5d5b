#!/usr/bin/env bash
# e2e: one slow receiver among fast ones (issue #13). Bed of 3 receivers, the sender's port capped at
# 300 Mbit/s (the switch's multicast cap), rx1's bridge port limited to 50 Mbit/s (a slower port), a
# 24 MiB object at --rate 300M, --slow-receiver left at its default (unicast):
#  - every copy verifies byte for byte and the sender exits 0;
#  - the sender's JSON gives rx1 the path "unicast" with the "slow: ..." hint, the fast ones
#    "multicast", and an --events "slow" record names rx1;
#  - the fast receivers' processes end (verified) while rx1 is still receiving: a verified Done is
#    acknowledged at once instead of at the end of the session;
#  - the multicast repair stays under 25% of the object (rx1's lack is not multicast to everyone).
# Then, with an 8 MiB object: --slow-receiver drop fails rx1 at once with the reason (sender exit 1, the
# others verified), and --slow-receiver wait lowers the session rate (logged) and every copy verifies.
# No timing thresholds: outcomes are exit codes, hashes, JSON fields and the order in which processes end.
source "$(dirname "$0")/lib.sh"
e2e_init slow "$@"
need_root_netns
need_cmd jq

N=3
MIB=24
bed_up $N
"$TESTBED" cap "$BED" 300mbit || fail "cannot set the cap"
"$TESTBED" portcap "$BED" 1 50mbit || fail "cannot limit rx1's port"
make_object "$WORK/object.bin" $MIB
make_key "$WORK/key"

log "1: --slow-receiver unicast (the default), $MIB MiB"
for k in $(seq 1 $N); do
  mkdir -p "$WORK/rx$k"
  bed_receiver "rx$k" "$k" "$WORK/rx$k/object.bin"
done
bed_sender tx $N "$WORK/object.bin" 300M --events "$WORK/tx.events"

# The fast ones end first; rx1, which gets the rest of the object over its 50 Mbit/s port, runs on.
expect_rc rx2 0
expect_rc rx3 0
if kill -0 "${E2E_PID[rx1]}" 2>/dev/null && [ ! -e "$WORK/rx1.json" ]; then
  pass "rx2 and rx3 exited while rx1 was still receiving"
else
  fail "rx1 had ended before the fast receivers exited (their Done was not acknowledged at once?)"
fi
expect_rc rx1 0
expect_rc tx 0
for k in $(seq 1 $N); do
  expect_same_sha "$WORK/object.bin" "$WORK/rx$k/object.bin"
  expect_eq "rx$k JSON outcome" "$(json "$WORK/rx$k.json" .outcome)" done
done
rx() { json "$WORK/tx.json" ".receivers[]? | select(.name == \"$1\") | .$2"; }
expect_eq "rx1's path" "$(rx rx1 path)" unicast
expect_eq "rx1's outcome" "$(rx rx1 outcome)" done
expect "rx1's hint says it was slow ($(rx rx1 hint))" grep -q "^slow: lacked [0-9]*% of the object" <<<"$(rx rx1 hint)"
expect_eq "rx2's path" "$(rx rx2 path)" multicast
expect_eq "rx3's path" "$(rx rx3 path)" multicast
expect_eq "sender JSON ok" "$(json "$WORK/tx.json" .ok)" $N
expect "an --events slow record names rx1" \
  grep -q '"event":"slow".*"receiver":"rx1"' <(jq -c 'select(.event == "slow") | {event, receiver, action}' "$WORK/tx.events")
expect_log tx "rx1.*unicast.*slow: lacked" "the sender's table shows rx1 as unicast, slow"
repair=$(json "$WORK/tx.json" .repair_bytes_multicast)
bytes=$(json "$WORK/tx.json" .bytes)
log "multicast repair: $repair bytes of $bytes"
expect "multicast repair ($repair bytes) < 25% of the object ($bytes bytes)" \
  test -n "$repair" -a -n "$bytes" -a "$((${repair:-0} * 4))" -lt "${bytes:-0}"

make_object "$WORK/small.bin" 8
for mode in drop wait; do
  log "2: --slow-receiver $mode, 8 MiB"
  for k in $(seq 1 $N); do
    mkdir -p "$WORK/$mode-rx$k"
    bed_receiver "$mode-rx$k" "$k" "$WORK/$mode-rx$k/object.bin"
  done
  bed_sender "$mode-tx" $N "$WORK/small.bin" 300M --slow-receiver "$mode"
  for k in 2 3; do
    expect_rc "$mode-rx$k" 0
    expect_same_sha "$WORK/small.bin" "$WORK/$mode-rx$k/object.bin"
  done
done
expect_rc drop-tx 1
expect_rc_failed drop-rx1
expect_no_file "$WORK/drop-rx1/object.bin"
reason=$(json "$WORK/drop-tx.json" '.receivers[]? | select(.name == "rx1") | .reason')
expect "drop: rx1's reason names --slow-receiver drop ($reason)" \
  grep -q "^too slow: lacked [0-9]*% of the object after pass 0 (--slow-receiver drop)" <<<"$reason"
expect_rc wait-tx 0
expect_rc wait-rx1 0
expect_same_sha "$WORK/small.bin" "$WORK/wait-rx1/object.bin"
expect_log wait-tx "--slow-receiver wait: multicast rate 300.0 Mbit/s -> " "wait lowered the rate"
expect_eq "wait: rx1's path" "$(json "$WORK/wait-tx.json" '.receivers[]? | select(.name == "rx1") | .path')" multicast
e2e_finish
