#!/usr/bin/env bash
# e2e: `shoal probe` finds an emulated switch cap. Bed of 2 receivers, the sender's link capped with
# `testbed.sh cap` (a tbf that drops, like a switch's multicast policer) at CAP Mbit/s (the script's
# argument, default 200). Receivers are ordinary `shoal recv` processes. Checks: the probe exits 0, the
# highest rate it found within its loss threshold is within 10% of the configured cap (measured result
# vs configured cap), the recommended rate is 90% of it, every receiver exits 0 without creating
# --out, and the JSON, CSV and SVG outputs are there and consistent with each other.
#   bash probe.sh SHOAL SOURCE_DIR [CAP_MBIT]
source "$(dirname "$0")/lib.sh"
e2e_init prb "$1" "$2"
CAP=${3:-200}
need_root_netns
need_cmd jq

N=2
bed_up $N
make_key "$WORK/key"
"$TESTBED" cap "$BED" "${CAP}mbit" || fail "cannot set the cap"
log "cap ${CAP} Mbit/s on the sender's link; probing with $N receivers"

for k in $(seq 1 $N); do
  bed_receiver "rx$k" "$k" "$WORK/rx$k-out.bin"
done
run_bg probe tx 100 "$SHOAL" probe --group "$BED_GROUP:$BED_PORT" --iface v0 --listen "$BED_LISTEN" \
  --key-file "$WORK/key" --min-receivers $N --max-wait 30s \
  --json "$WORK/probe.json" --csv "$WORK/probe.csv" --plot "$WORK/probe.svg"

expect_rc probe 0
for k in $(seq 1 $N); do
  expect_rc "rx$k" 0
  expect_no_file "$WORK/rx$k-out.bin"
  expect_log "rx$k" "probe finished" "the receiver logged the sender's verdict"
done
expect_log probe "^result: highest rate" "the table names the highest passing rate"

max_ok=$(json "$WORK/probe.json" .result.max_ok_bps)
rec=$(json "$WORK/probe.json" .result.recommended_bps)
limit=$(json "$WORK/probe.json" .result.limited_by)
log "probe found ${max_ok:-?} bit/s (limited by ${limit:-?}), recommends ${rec:-?} bit/s, for a cap of ${CAP}e6"
cap_bps=$((CAP * 1000000))
expect "found rate ${max_ok:-none} within 10% of the ${CAP} Mbit/s cap" \
  awk -v got="${max_ok:-0}" -v cap="$cap_bps" 'BEGIN { d = got - cap; if (d < 0) d = -d; exit !(got > 0 && d <= 0.10 * cap) }'
expect_eq "the limit is the network's" "$limit" "network"
expect "recommended ${rec:-none} = 90% of the found rate, rounded down to whole Mbit/s" \
  awk -v r="${rec:-0}" -v m="${max_ok:-0}" 'BEGIN { want = int(m * 0.9 / 1e6) * 1e6; exit !(r == want && r > 0) }'

# Every receiver heard the group and answered every step; the steps straddle the cap.
expect_eq "receivers that heard the group" "$(json "$WORK/probe.json" '[.receivers[] | select(.heard)] | length')" $N
expect "a search step above the cap lost frames" \
  test "$(json "$WORK/probe.json" "[.steps[] | select(.kind == \"search\" and .pass == false)] | length")" -ge 1
expect "every search step has a report from each receiver" \
  test "$(json "$WORK/probe.json" "[.steps[] | select(.kind == \"search\") | .receivers | length] | min")" -eq $N
# The CSV has a row per answered (step, receiver), as the JSON does.
rows=$(($(wc -l <"$WORK/probe.csv") - 1))
expect_eq "CSV rows" "$rows" "$(json "$WORK/probe.json" '[.steps[].receivers[]] | length')"
expect "SVG plot written" grep -q "</svg>" "$WORK/probe.svg"
if [ -n "${PROBE_KEEP_PLOT:-}" ]; then cp "$WORK/probe.svg" "$WORK/probe.json" "$PROBE_KEEP_PLOT/"; fi
e2e_finish
