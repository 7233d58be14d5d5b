#!/usr/bin/env bash
# e2e: TTL scoping, unicast fallback and the allow-list (issue #6).
#  1. auto scope, --encrypt: rx1 on the bridge and "far", a receiver on another subnet behind a router
#     that does not route multicast. far cannot hear the session's beacon, so the sender serves it the
#     whole object over the control connection: every copy verifies, the sender reports far's path as
#     "unicast" with a hint naming the likely cause, rx1's as "multicast".
#  2. --scope strict: far is refused (sender exits 1 and says why), rx1 still verifies, far leaves no
#     file under its final name.
#  3. --allow 198.18.0.101: rx1 joins, rx2 (198.18.0.102) is turned away at connect; the sender exits 0
#     (rx2 was never admitted) and rx2 fails without a file.
source "$(dirname "$0")/lib.sh"
e2e_init scope "$@"
need_root_netns
need_cmd jq

bed_up 2
"$TESTBED" far "$BED" >/dev/null || fail "cannot add the far receiver to the test bed"
make_object "$WORK/object.bin" 8
make_key "$WORK/key"

far_receiver() {   # NAME OUT [extra]
  local name=$1 out=$2
  shift 2
  run_bg "$name" far 120 "$SHOAL" recv --sender "$BED_LISTEN" --key-file "$WORK/key" --out "$out" \
    --name far --json "$WORK/$name.json" "$@"
}

log "1: auto scope, far receiver served by unicast, --encrypt"
mkdir -p "$WORK/a-rx1" "$WORK/a-far"
bed_receiver a-rx1 1 "$WORK/a-rx1/object.bin"
far_receiver a-far "$WORK/a-far/object.bin"
bed_sender a-tx 2 "$WORK/object.bin" 200M --encrypt
expect_rc a-tx 0
expect_rc a-rx1 0
expect_rc a-far 0
expect_same_sha "$WORK/object.bin" "$WORK/a-rx1/object.bin"
expect_same_sha "$WORK/object.bin" "$WORK/a-far/object.bin"
path() { json "$WORK/$1.json" ".receivers[]? | select(.name == \"$2\") | .$3"; }
expect_eq "far's path" "$(path a-tx far path)" unicast
expect_eq "far's outcome" "$(path a-tx far outcome)" done
expect_eq "rx1's path" "$(path a-tx rx1 path)" multicast
expect "the sender's hint names the cause ($(path a-tx far hint))" \
  grep -q "another subnet" <<<"$(path a-tx far hint)"
expect_log a-tx "far.*unicast" "the sender's table shows far as unicast"

log "2: --scope strict refuses the far receiver"
mkdir -p "$WORK/b-rx1" "$WORK/b-far"
bed_receiver b-rx1 1 "$WORK/b-rx1/object.bin"
far_receiver b-far "$WORK/b-far/object.bin"
bed_sender b-tx 2 "$WORK/object.bin" 200M --scope strict
expect_rc b-tx 1
expect_rc b-rx1 0
expect_rc_failed b-far
expect_same_sha "$WORK/object.bin" "$WORK/b-rx1/object.bin"
expect_no_file "$WORK/b-far/object.bin"
expect_no_temp "$WORK/b-far"
expect_eq "far's outcome under --scope strict" "$(path b-tx far outcome)" failed
expect "the reason names --scope strict" grep -q -- "--scope strict" <<<"$(path b-tx far reason)"

log "3: --allow admits rx1 only"
mkdir -p "$WORK/c-rx1" "$WORK/c-rx2"
bed_receiver c-rx1 1 "$WORK/c-rx1/object.bin"
bed_receiver c-rx2 2 "$WORK/c-rx2/object.bin" --connect-timeout 5s
bed_sender c-tx 1 "$WORK/object.bin" 200M --allow 198.18.0.101
expect_rc c-tx 0
expect_rc c-rx1 0
expect_rc_failed c-rx2
expect_same_sha "$WORK/object.bin" "$WORK/c-rx1/object.bin"
expect_no_file "$WORK/c-rx2/object.bin"
expect_log c-tx "refused 198\.18\.0\.102.*not in --allow" "the sender logs the refusal"
expect_eq "receivers in the sender's summary" "$(json "$WORK/c-tx.json" '.receivers | length')" 1
e2e_finish
