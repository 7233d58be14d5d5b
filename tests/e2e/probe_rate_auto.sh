#!/usr/bin/env bash
# e2e: `shoal send --rate auto` and `--rate max` under an emulated switch cap of 300 Mbit/s (testbed.sh
# cap: a tbf on the sender's link that drops the excess), 2 receivers, a 128 MiB object. Four runs:
#   1. --rate auto without a probe result: the controller starts at 100 Mbit/s, finds the cap by loss;
#   2. --rate auto:probe.json after a short `shoal probe` of the same bed;
#   3. --rate max:250M: a ceiling under the cap, never passed;
#   4. --rate max, which expects no cap: it starts at 1 Gbit/s and must find this one (back off).
# Each run: every copy verified (SHA-256); in runs 1-3 the repair the sender had to send (multicast
# repair bytes plus every receiver's unicast repair bytes, from its --json summary) is below 5% of the
# object. The summary's rate_auto record is logged (start, final, held and knee rate, decreases).
source "$(dirname "$0")/lib.sh"
e2e_init pra "$@"
need_root_netns
need_cmd jq

N=2
MIB=128
bed_up $N
make_object "$WORK/object.bin" $MIB
make_key "$WORK/key"
"$TESTBED" cap "$BED" 300mbit || fail "cannot set the cap"

send_auto() {   # RUN RATE_SPEC [REPAIR_BOUND: yes | no]
  local run=$1 spec=$2 bound=${3:-yes} k repair
  log "run $run: --rate $spec, $N receivers, ${MIB} MiB, cap 300 Mbit/s"
  for k in $(seq 1 $N); do
    mkdir -p "$WORK/$run-rx$k"
    bed_receiver "$run-rx$k" "$k" "$WORK/$run-rx$k/object.bin"
  done
  bed_sender "$run-tx" $N "$WORK/object.bin" "$spec"
  expect_rc "$run-tx" 0
  for k in $(seq 1 $N); do
    expect_rc "$run-rx$k" 0
    expect_same_sha "$WORK/object.bin" "$WORK/$run-rx$k/object.bin"
    expect_eq "$run rx$k got the object by" "$(json "$WORK/$run-tx.json" ".receivers[] | select(.name == \"rx$k\") | .path")" multicast
  done
  repair=$(json "$WORK/$run-tx.json" '.repair_bytes_multicast + ([.receivers[].repair_bytes_unicast] | add)')
  log "run $run: repair ${repair:-?} bytes of $((MIB << 20)); passes $(json "$WORK/$run-tx.json" .passes);" \
    "seconds $(json "$WORK/$run-tx.json" .seconds); rate_auto $(jq -c .rate_auto "$WORK/$run-tx.json" 2>/dev/null)"
  expect "$run: the summary has a rate_auto record" test -n "$(json "$WORK/$run-tx.json" '.rate_auto.final_bps // empty')"
  [ "$bound" = yes ] || return 0
  expect "$run: repair ${repair:-?} bytes < 5% of the object" \
    awk -v r="${repair:-x}" -v size=$((MIB << 20)) 'BEGIN { exit !(r ~ /^[0-9]+$/ && r < 0.05 * size) }'
}

send_auto auto auto

log "probing the bed for run 2"
for k in $(seq 1 $N); do bed_receiver "probe-rx$k" "$k" "$WORK/probe-rx$k.bin"; done
run_bg probe tx 60 "$SHOAL" probe --group "$BED_GROUP:$BED_PORT" --iface v0 --listen "$BED_LISTEN" \
  --key-file "$WORK/key" --min-receivers $N --max-wait 30s --dwell 500ms --no-unicast --no-mtu \
  --json "$WORK/probe.json"
expect_rc probe 0
log "probe recommends $(json "$WORK/probe.json" .result.recommended_bps) bit/s" \
  "(highest passing $(json "$WORK/probe.json" .result.max_ok_bps))"
send_auto file "auto:$WORK/probe.json"
expect_eq "run file started at the probe's recommendation" \
  "$(json "$WORK/file-tx.json" .rate_auto.start_bps)" "$(json "$WORK/probe.json" .result.recommended_bps)"

send_auto ceiling max:250M
expect_eq "run ceiling: the controller's source" "$(json "$WORK/ceiling-tx.json" .rate_auto.source)" \
  "max, at most 250.0 Mbit/s"
expect "run ceiling: no rate above the ceiling" \
  test "$(json "$WORK/ceiling-tx.json" .rate_auto.max_bps)" -le 250000000
expect "run ceiling: the rate held is reported, within the rates set" test \
  "$(json "$WORK/ceiling-tx.json" '.rate_auto.held_bps >= .rate_auto.min_bps and .rate_auto.held_bps <= .rate_auto.max_bps')" = true

send_auto max max no
expect_eq "run max: started at 1 Gbit/s" "$(json "$WORK/max-tx.json" .rate_auto.start_bps)" 1000000000
expect "run max: backed off from 1 Gbit/s into the 300 Mbit/s cap" \
  test "$(json "$WORK/max-tx.json" .rate_auto.decreases)" -ge 1
expect "run max: held less than it started at" \
  test "$(json "$WORK/max-tx.json" .rate_auto.held_bps)" -lt 1000000000
# Receivers size their socket buffer from the most the sender may send (issue #16 item 2): 200 ms at
# 250 Mbit/s is below the 64 MiB floor; max's 400 Gbit/s ceiling takes the cap, 512 MiB or a
# sixteenth of this machine's memory, whichever is less (never below the floor).
ram=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024 ))
cap=$(( ram / 16 < (512 << 20) ? ram / 16 : (512 << 20) ))
cap=$(( cap < (64 << 20) ? (64 << 20) : cap ))
expect_eq "run ceiling: rx1's socket buffer" "$(json "$WORK/ceiling-rx1.json" .socket_buffer_bytes)" $((64 << 20))
expect_eq "run max: rx1's socket buffer" "$(json "$WORK/max-rx1.json" .socket_buffer_bytes)" "$cap"
expect "run max: rx1 reports its socket drops" test -n "$(json "$WORK/max-rx1.json" '.socket_drops // empty')"
e2e_finish
