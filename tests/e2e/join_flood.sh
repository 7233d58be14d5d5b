#!/usr/bin/env bash
# e2e: a hostile host floods the sender's control port while a session starts -- 200 idle connections,
# 20 slow-loris ones trickling a Hello at one byte a second, 20 announcing a 1 MiB message before
# joining. The sender must drop all of them (join timeout, message cap) and serve the real receiver as
# usual: rx1 verifies, the sender exits 0 and lists only rx1.
source "$(dirname "$0")/lib.sh"
e2e_init flood "$@"
need_root_netns
need_cmd jq python3

bed_up 2
make_object "$WORK/object.bin" 8
make_key "$WORK/key"
bed_sender tx 1 "$WORK/object.bin" 100M --handshake-timeout 2s
wait_log tx "waiting for 1 receiver" 20 || fail "the sender did not start listening"
# The flood gives up after 5 s: by then the sender must have closed every one of its connections
# (join timeout 2 s, message cap at once), while it is still waiting for its receiver.
run_bg flood rx2 60 python3 "$(dirname "$0")/join_flood.py" --sender "$BED_LISTEN" --seconds 5
expect_rc flood 0
mkdir -p "$WORK/rx1"
bed_receiver rx1 1 "$WORK/rx1/object.bin"
expect_rc rx1 0
expect_rc tx 0
cat "$WORK/flood.log"
expect_same_sha "$WORK/object.bin" "$WORK/rx1/object.bin"
expect_eq "receivers in the sender's summary" "$(json "$WORK/tx.json" '.receivers | length')" 1
expect_log flood "closed by the sender: 200/200 idle, 20/20 slow, 20/20 big" "every hostile connection was closed"
expect_log tx "no complete join within 2s" "the sender logs join timeouts"
expect_log tx "left during the handshake: protocol error" "oversized join messages are refused at once"
e2e_finish
