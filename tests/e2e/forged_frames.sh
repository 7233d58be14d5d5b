#!/usr/bin/env bash
# e2e 6: hostile datagrams in the session's group while it runs: garbage, well-formed frames with a bad
# CRC, and frames with a valid CRC but a foreign session id (forge_frames.py, run in the sender's
# namespace so they reach every receiver through the bridge like the real data). Every copy must still
# verify, and every receiver's JSON must count what it threw away (frames_rejected, frames_foreign > 0).
#
# With a third argument "poison" (test e2e_poisoned_symbols): valid frames of the real session with
# random payloads instead, aimed at blocks near the end of the object so they arrive before the real
# symbols. Only the per-block SHA-256 can catch those: every receiver must count block hash failures
# (block_hash_failures > 0), discard those blocks, get them again and still verify its copy.
source "$(dirname "$0")/lib.sh"
MODE=${3:-forge}
[[ $MODE == forge || $MODE == poison ]] || { echo "$0: mode must be forge or poison, got '$MODE'" >&2; exit 2; }
e2e_init "$MODE" "$@"
need_root_netns
need_cmd jq python3

N=3
bed_up $N
make_object "$WORK/object.bin" 32
make_key "$WORK/key"

for k in $(seq 1 $N); do
  mkdir -p "$WORK/rx$k"
  bed_receiver "rx$k" "$k" "$WORK/rx$k/object.bin"
done
bed_sender tx $N "$WORK/object.bin" 50M   # slow enough that the injection overlaps the data pass

# Inject once every receiver has the session (it logs the id) and the bridge forwards the group to it.
session=""
if wait_log rx1 "session [0-9a-f]{16}:" 60; then
  session=$(grep -oE "session [0-9a-f]{16}:" "$WORK/rx1.log" | head -n1 | cut -c9-24)
fi
[ -n "$session" ] || fail "rx1 never logged its session id"
"$TESTBED" wait-joined "$BED" "$BED_GROUP" $N 10 || fail "receivers did not all join $BED_GROUP"
if [ "$MODE" = poison ]; then
  # Aim at the 32 full blocks before the last (possibly short) one: pass 0 sends them last, about 5 s
  # in at 50 Mbit/s, long after these frames. The layout comes from the sender's start-up line
  # "... (32.0 MiB, B blocks of KxS B) ...".
  layout=$(grep -oE "[0-9]+ blocks of [0-9]+x[0-9]+ B" "$WORK/tx.log" | head -n1)
  read -r blocks k sym <<<"$(sed -E 's/([0-9]+) blocks of ([0-9]+)x([0-9]+) B/\1 \2 \3/' <<<"$layout")"
  [ -n "${sym:-}" ] && [ "$blocks" -gt 40 ] || fail "cannot read the block layout from the sender's log ('$layout')"
  run_bg forge tx 60 python3 "$(dirname "$0")/forge_frames.py" --group "$BED_GROUP" --port "$BED_PORT" \
    --source 198.18.0.1 --session "$session" --poison --first-block $((${blocks:-373} - 33)) --blocks 32 \
    --k "${k:-64}" --symbol-size "${sym:-1408}" --count 300
else
  run_bg forge tx 60 python3 "$(dirname "$0")/forge_frames.py" --group "$BED_GROUP" --port "$BED_PORT" \
    --source 198.18.0.1 --session "$session" --count 300
fi
expect_rc forge 0
cat "$WORK/forge.log"
if kill -0 "${E2E_PID[rx1]}" 2>/dev/null; then
  log "injection finished while rx1 was still receiving"
else
  log "note: rx1 had already exited when the injection finished"
fi

expect_rc tx 0
expect_eq "sender JSON ok" "$(json "$WORK/tx.json" .ok)" $N
for k in $(seq 1 $N); do
  expect_rc "rx$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/rx$k/object.bin"
  expect_no_temp "$WORK/rx$k"
  rejected=$(json "$WORK/rx$k.json" .frames_rejected)
  foreign=$(json "$WORK/rx$k.json" .frames_foreign)
  log "rx$k: frames_rejected $rejected, frames_foreign $foreign, block_hash_failures" \
    "$(json "$WORK/rx$k.json" .block_hash_failures)"
  if [ "$MODE" = poison ]; then
    hashfail=$(json "$WORK/rx$k.json" .block_hash_failures)
    expect "rx$k caught poisoned blocks (block_hash_failures = $hashfail > 0)" test "${hashfail:-0}" -gt 0
  else
    expect "rx$k counted rejected frames (frames_rejected = $rejected > 0)" test "${rejected:-0}" -gt 0
    expect "rx$k counted foreign frames (frames_foreign = $foreign > 0)" test "${foreign:-0}" -gt 0
  fi
done
e2e_finish
