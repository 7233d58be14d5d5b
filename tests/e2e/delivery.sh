#!/usr/bin/env bash
# e2e 1: delivery on the namespace test bed, 1 sender and 4 receivers, at 0%, 1% and 5% random loss
# toward every receiver. Each run: every receiver exits 0 with a copy whose SHA-256 equals the source's,
# the sender exits 0 and its JSON summary lists the 4 receivers as done, and no temp file remains.
# With loss, repair went out during the pass too (receivers' Progress reports), not only after it.
source "$(dirname "$0")/lib.sh"
e2e_init dlv "$@"
need_root_netns
need_cmd jq

N=4
bed_up $N
make_object "$WORK/object.bin" 32
make_key "$WORK/key"

for permille in 0 10 50; do
  run=loss$permille
  log "run $run: $N receivers, $permille per mille loss toward each"
  if [ "$permille" -eq 0 ]; then
    "$TESTBED" noloss "$BED" || fail "cannot clear loss"
  else
    "$TESTBED" loss "$BED" all "$permille" || fail "cannot set loss $permille"
  fi
  for k in $(seq 1 $N); do
    mkdir -p "$WORK/$run-rx$k"
    bed_receiver "$run-rx$k" "$k" "$WORK/$run-rx$k/object.bin"
  done
  bed_sender "$run-tx" $N "$WORK/object.bin" 300M

  expect_rc "$run-tx" 0
  for k in $(seq 1 $N); do
    expect_rc "$run-rx$k" 0
    expect_same_sha "$WORK/object.bin" "$WORK/$run-rx$k/object.bin"
    expect_no_temp "$WORK/$run-rx$k"
    expect_eq "$run-rx$k JSON outcome" "$(json "$WORK/$run-rx$k.json" .outcome)" "done"
    expect_eq "sender JSON outcome of rx$k" "$(sender_outcome "$WORK/$run-tx.json" "rx$k")" "done"
  done
  expect_eq "$run sender JSON ok" "$(json "$WORK/$run-tx.json" .ok)" $N
  expect_eq "$run sender JSON failed" "$(json "$WORK/$run-tx.json" .failed)" 0
  expect_eq "$run sender JSON receivers done" \
    "$(json "$WORK/$run-tx.json" '[.receivers[]? | select(.outcome == "done")] | length')" $N
  if [ "$permille" -gt 0 ]; then   # the loss was real: some receiver needed a repair pass
    passes=$(json "$WORK/$run-tx.json" .passes)
    expect "$run needed repair passes (passes = $passes > 1)" test "${passes:-0}" -gt 1
    during=$(json "$WORK/$run-tx.json" .repair_bytes_interleaved)
    expect "$run repaired during the pass (repair_bytes_interleaved = $during > 0)" \
      test "${during:-0}" -gt 0
  fi
  log "run $run: sender passes $(json "$WORK/$run-tx.json" .passes)," \
    "multicast repair bytes $(json "$WORK/$run-tx.json" .repair_bytes_multicast)," \
    "of them during the pass $(json "$WORK/$run-tx.json" .repair_bytes_interleaved)"
done
e2e_finish
