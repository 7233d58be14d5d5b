#!/usr/bin/env bash
# e2e: crash and resume. One of two receivers is SIGKILLed at ~50% and started again with the same
# command while the session runs: it resumes from its checkpointed blocks (it says how many), rejoins
# the running session, and ends with a verified copy having written fewer bytes than the object. The
# sender counts the restarted receiver once and exits 0.
source "$(dirname "$0")/lib.sh"
e2e_init rsm "$@"
need_root_netns
need_cmd jq

N=2
bed_up $N
make_object "$WORK/object.bin" 64
make_key "$WORK/key"
SIZE=$(stat -c %s "$WORK/object.bin")

for k in $(seq 1 $N); do
  mkdir -p "$WORK/rx$k"
  bed_receiver "rx$k" "$k" "$WORK/rx$k/object.bin" --progress
done
bed_sender tx $N "$WORK/object.bin" 100M

if wait_progress rx1 50 60; then
  sleep 1.5   # let a checkpoint (about once a second) cover the blocks received so far
  pid=$(cmd_pid rx1) && kill -KILL "$pid"
  log "killed rx1 (pid ${pid:-?}) at $(progress_of rx1)%"
else
  fail "rx1 never reported 50% progress"
fi
expect_rc rx1 137
expect "partial data kept for the resume" test -f "$WORK/rx1/.object.bin.shoal-part"
expect "resume state written" test -f "$WORK/rx1/.object.bin.shoal-state"

bed_receiver rx1b 1 "$WORK/rx1/object.bin"
expect_rc rx1b 0
expect_log rx1b "resuming: [1-9][0-9]* of [0-9]+ blocks verified in an earlier run" "resumed from its checkpoint"
# Each resumed block is checked against its hash as the manifest streams in, and kept when it matches.
expect "resumed blocks checked and kept ($(json "$WORK/rx1b.json" .blocks_resumed))" \
  test "$(json "$WORK/rx1b.json" .blocks_resumed)" -gt 0
expect_eq "resumed blocks whose data had changed" "$(json "$WORK/rx1b.json" .resume_mismatches)" 0
expect_same_sha "$WORK/object.bin" "$WORK/rx1/object.bin"
expect_no_temp "$WORK/rx1"
written=$(json "$WORK/rx1b.json" .bytes_written)
expect "the resumed run wrote fewer bytes ($written) than the object ($SIZE)" test "${written:-$SIZE}" -lt "$SIZE"

expect_rc rx2 0
expect_same_sha "$WORK/object.bin" "$WORK/rx2/object.bin"
expect_rc tx 0
expect_eq "sender JSON ok" "$(json "$WORK/tx.json" .ok)" 2
expect_eq "sender JSON failed" "$(json "$WORK/tx.json" .failed)" 0
e2e_finish
