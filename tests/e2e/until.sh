#!/usr/bin/env bash
# e2e (issue #17 item 1): `shoal send --until` provisions machines that boot late. The sender starts
# with one receiver and stays joinable for 25 s. rx1 gets the object and exits at once (not held
# back, not disturbed later). Well after that, rx2 boots: a `shoal recvd` daemon that only hears
# about the session from the announcements, which must still be going; and rx3, a plain receiver.
# Both must get the whole object (a new cycle) and verify it; the sender must exit 0 once --until
# is over, with all three verified in its JSON; a receiver joining after --until is refused.
source "$(dirname "$0")/lib.sh"
e2e_init until "$@"
need_root_netns
need_cmd jq

bed_up 3
make_key "$WORK/key"
make_object "$WORK/object.bin" 16
for k in 1 2 3; do mkdir -p "$WORK/rx$k"; done

bed_receiver rx1 1 "$WORK/rx1/object.bin"
bed_sender tx 1 "$WORK/object.bin" 100M --until 25s --announce
expect_rc rx1 0
expect_same_sha "$WORK/object.bin" "$WORK/rx1/object.bin"
wait_log tx "stays joinable" 30 || fail "the sender did not say it stays joinable"
log "rx1 is done; the machines that boot late come now"
sleep 2
run_bg d2 rx2 60 "$SHOAL" recvd --iface v0 --key-file "$WORK/key" --map "object.bin=$WORK/rx2/" --name rx2
bed_receiver rx3 3 "$WORK/rx3/object.bin"
expect_rc rx3 0
expect_same_sha "$WORK/object.bin" "$WORK/rx3/object.bin"
wait_log d2 "verified and written" 40 || fail "the late recvd daemon did not verify the object"
expect_same_sha "$WORK/object.bin" "$WORK/rx2/object.bin"
expect_log tx "a late receiver is ready: cycle 2" "a new cycle served the late machines"
expect_rc tx 0
expect_eq "sender JSON ok" "$(json "$WORK/tx.json" .ok)" 3
expect_eq "sender JSON failed" "$(json "$WORK/tx.json" .failed)" 0
for k in 1 2 3; do expect_eq "rx$k in the sender's JSON" "$(sender_outcome "$WORK/tx.json" "rx$k")" done; done
# After --until the session is closed: a receiver now finds no sender (and must not hang).
mkdir -p "$WORK/late"
run_bg late rx3 30 "$SHOAL" recv --sender "$BED_LISTEN" --iface v0 --key-file "$WORK/key" \
  --out "$WORK/late/object.bin" --connect-timeout 3s
expect_rc late 1
expect_no_temp "$WORK/late"
e2e_finish
