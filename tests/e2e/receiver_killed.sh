#!/usr/bin/env bash
# e2e 4: one of three receivers dies (SIGKILL) in the middle of a transfer. The sender must report it
# FAILED (non-zero exit, JSON outcome "failed") and still deliver verified copies to the other two.
source "$(dirname "$0")/lib.sh"
e2e_init rkill "$@"
need_root_netns
need_cmd jq

N=3
VICTIM=2
bed_up $N
make_object "$WORK/object.bin" 64
make_key "$WORK/key"

for k in $(seq 1 $N); do
  mkdir -p "$WORK/rx$k"
  bed_receiver "rx$k" "$k" "$WORK/rx$k/object.bin" --progress
done
bed_sender tx $N "$WORK/object.bin" 100M

if wait_progress "rx$VICTIM" 40 60; then
  pid=$(cmd_pid "rx$VICTIM") && kill -KILL "$pid"
  log "killed rx$VICTIM (pid ${pid:-?}) at $(progress_of "rx$VICTIM")%"
else
  fail "rx$VICTIM never reported 40% progress, so it was not killed mid-transfer"
fi

expect_rc "rx$VICTIM" 137   # it was still running when killed
expect_rc tx 1
expect_log tx "FAILED" "the summary table marks a FAILED receiver"
expect_eq "sender JSON outcome of rx$VICTIM" "$(sender_outcome "$WORK/tx.json" "rx$VICTIM")" failed
expect_eq "sender JSON ok" "$(json "$WORK/tx.json" .ok)" $((N - 1))
expect_eq "sender JSON failed" "$(json "$WORK/tx.json" .failed)" 1
for k in $(seq 1 $N); do
  [ "$k" -eq "$VICTIM" ] && continue
  expect_rc "rx$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/rx$k/object.bin"
  expect_no_temp "$WORK/rx$k"
  expect_eq "sender JSON outcome of rx$k" "$(sender_outcome "$WORK/tx.json" "rx$k")" "done"
done
expect_no_file "$WORK/rx$VICTIM/object.bin"
e2e_finish
