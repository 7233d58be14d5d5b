#!/usr/bin/env bash
# e2e 6: hostile datagrams in the session's group while it runs (forge_frames.py, sent from the sender's
# namespace so they reach every receiver through the bridge like the real data):
#   garbage, bad CRC, a foreign session id, frames of the real session without a tag or with a wrong
#   tag, frames recorded from an EARLIER session (run first, recorded in rx1's namespace), and frames
#   of THIS session recorded and sent again (replays).
# Every copy must verify, every receiver's JSON must count each class (frames_rejected, _foreign,
# _unauthenticated, _replayed > 0), and no forged frame may reach FEC state: block_hash_failures = 0.
#
# With a third argument "poison" (test e2e_poisoned_symbols): the sender runs with --no-frame-auth and
# the forger sends valid frames of the real session with random payloads, aimed at blocks near the end
# of the object so they arrive before the real symbols. Without tags only the per-block SHA-256 can
# catch those: every receiver must count block hash failures, get those blocks again and still verify.
#
# With "insider" (test e2e_insider_poison, issue #15 item 2): the same, but the forger poisons the same
# four blocks for the whole session, as a group member holding the data key could. Every pass would
# fail them again; each receiver must instead fetch them over its own connection (blocks_fetched > 0
# in its JSON and in the sender's) and verify, and the sender must exit 0.
source "$(dirname "$0")/lib.sh"
MODE=${3:-forge}
[[ $MODE == forge || $MODE == poison || $MODE == insider ]] ||
  { echo "$0: mode must be forge, poison or insider, got '$MODE'" >&2; exit 2; }
e2e_init "$MODE" "$@"
need_root_netns
need_cmd jq python3

N=3
bed_up $N
make_key "$WORK/key"
if [ "$MODE" = forge ]; then
  # An earlier session, recorded from rx1's port, to replay into the next one.
  make_object "$WORK/old.bin" 4
  mkdir -p "$WORK/old-rx1"
  bed_receiver old-rx1 1 "$WORK/old-rx1/old.bin"
  run_bg rec-old rx1 60 python3 "$(dirname "$0")/forge_frames.py" --group "$BED_GROUP" --port "$BED_PORT" \
    --source 198.18.0.101 --capture "$WORK/old.frames" --count 200
  # The recorder must be in the group before the short session starts (python starts slowly on a
  # busy host; seen in CI: it missed the whole session).
  wait_log rec-old "capturing" 30 || fail "the recorder did not join the group"
  "$TESTBED" wait-joined "$BED" "$BED_GROUP" 1 10 || fail "the bridge does not forward $BED_GROUP to rx1"
  bed_sender old-tx 1 "$WORK/old.bin" 50M
  expect_rc old-tx 0
  expect_rc old-rx1 0
  expect_rc rec-old 0
fi
make_object "$WORK/object.bin" 32

for k in $(seq 1 $N); do
  mkdir -p "$WORK/rx$k"
  bed_receiver "rx$k" "$k" "$WORK/rx$k/object.bin"
done
if [ "$MODE" != forge ]; then
  bed_sender tx $N "$WORK/object.bin" 50M --no-frame-auth   # slow: the injection overlaps the pass
else
  bed_sender tx $N "$WORK/object.bin" 50M
fi

# Inject once every receiver has the session (it logs the id) and the bridge forwards the group to it.
session=""
if wait_log rx1 "session [0-9a-f]{16}:" 60; then
  session=$(grep -oE "session [0-9a-f]{16}:" "$WORK/rx1.log" | head -n1 | cut -c9-24)
fi
[ -n "$session" ] || fail "rx1 never logged its session id"
"$TESTBED" wait-joined "$BED" "$BED_GROUP" $N 10 || fail "receivers did not all join $BED_GROUP"
if [ "$MODE" != forge ]; then
  # Aim at the 32 full blocks before the last (possibly short) one: pass 0 sends them last, about 5 s
  # in at 50 Mbit/s, long after these frames. The layout comes from the sender's start-up line
  # "... (32.0 MiB, B blocks of KxS B) ...".
  layout=$(grep -oE "[0-9]+ blocks of [0-9]+x[0-9]+ B" "$WORK/tx.log" | head -n1)
  read -r blocks k sym <<<"$(sed -E 's/([0-9]+) blocks of ([0-9]+)x([0-9]+) B/\1 \2 \3/' <<<"$layout")"
  [ -n "${sym:-}" ] && [ "$blocks" -gt 40 ] || fail "cannot read the block layout from the sender's log ('$layout')"
  # poison: 300 frames over 32 blocks, once. insider: four blocks, all along (~500 frames a second
  # for up to 60 s; the test ends it with the session).
  if [ "$MODE" = poison ]; then aim=(--blocks 32 --count 300); else aim=(--blocks 4 --count 30000); fi
  run_bg forge tx 60 python3 "$(dirname "$0")/forge_frames.py" --group "$BED_GROUP" --port "$BED_PORT" \
    --source 198.18.0.1 --session "$session" --poison --first-block $((${blocks:-373} - 33)) "${aim[@]}" \
    --k "${k:-64}" --symbol-size "${sym:-1408}"
else
  run_bg rec-now rx1 60 python3 "$(dirname "$0")/forge_frames.py" --group "$BED_GROUP" --port "$BED_PORT" \
    --source 198.18.0.101 --capture "$WORK/now.frames" --count 200
  expect_rc rec-now 0
  run_bg forge tx 60 python3 "$(dirname "$0")/forge_frames.py" --group "$BED_GROUP" --port "$BED_PORT" \
    --source 198.18.0.1 --session "$session" --count 300
  expect_rc forge 0
  run_bg replay tx 60 python3 "$(dirname "$0")/forge_frames.py" --group "$BED_GROUP" --port "$BED_PORT" \
    --source 198.18.0.1 --replay "$WORK/old.frames" --replay "$WORK/now.frames"
  expect_rc replay 0
  cat "$WORK/replay.log"
fi
if [ "$MODE" = insider ]; then
  expect_rc tx 0  # the session ends while the forger still sends
  kill_tree "${E2E_PID[forge]}" TERM
fi
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
  if [ "$MODE" != forge ]; then
    hashfail=$(json "$WORK/rx$k.json" .block_hash_failures)
    expect "rx$k caught poisoned blocks (block_hash_failures = $hashfail > 0)" test "${hashfail:-0}" -gt 0
    if [ "$MODE" = insider ]; then
      fetched=$(json "$WORK/rx$k.json" .blocks_fetched)
      expect "rx$k fetched the poisoned blocks over its connection (blocks_fetched = $fetched > 0)" \
        test "${fetched:-0}" -gt 0
    fi
  else
    unauth=$(json "$WORK/rx$k.json" .frames_unauthenticated)
    replayed=$(json "$WORK/rx$k.json" .frames_replayed)
    log "rx$k: frames_unauthenticated $unauth, frames_replayed $replayed"
    expect "rx$k counted rejected frames (frames_rejected = $rejected > 0)" test "${rejected:-0}" -gt 0
    expect "rx$k counted foreign frames (frames_foreign = $foreign > 0)" test "${foreign:-0}" -gt 0
    expect "rx$k counted unauthenticated frames ($unauth > 0)" test "${unauth:-0}" -gt 0
    # rx1 recorded this session's frames from its own port, so it does not get them back (the bridge
    # sends the replays from the sender's port to every joined port, rx1 included, but rx1 may have
    # finished); the others must have caught replays of live frames.
    if [ "$k" -ne 1 ]; then
      expect "rx$k counted replayed frames ($replayed > 0)" test "${replayed:-0}" -gt 0
    fi
    expect_eq "rx$k block hash failures (no forged frame reached FEC state)" \
      "$(json "$WORK/rx$k.json" .block_hash_failures)" 0
  fi
done
if [ "$MODE" = insider ]; then
  served=$(jq '[.receivers[].blocks_fetched] | add' "$WORK/tx.json")
  expect "the sender served fetched blocks ($served > 0)" test "${served:-0}" -gt 0
fi
e2e_finish
