#!/usr/bin/env bash
# e2e 3: the sender dies (SIGKILL) in the middle of a transfer. Every receiver must exit non-zero on
# its own (not hang until the test's timeout), say why, and leave no file under the final name.
# What stays beside it depends on resume (on by default): rx1 and rx2 keep their verified blocks as
# hidden partial data (.NAME.shoal-part + .NAME.shoal-state); rx3 runs with --no-resume and must leave
# nothing at all. Then a new sender starts with the same object, and rx1 and rx2 run their command
# again: both must resume from what they kept (so the sender sends fewer frames than a whole object:
# its first pass skips blocks nobody lacks), verify their copies and leave no partial data.
source "$(dirname "$0")/lib.sh"
e2e_init skill "$@"
need_root_netns
need_cmd jq

N=3
bed_up $N
make_object "$WORK/object.bin" 64
make_key "$WORK/key"
resume_opt() { [ "$1" -eq 3 ] && echo --no-resume || echo --progress; }   # rx3: --no-resume

for k in $(seq 1 $N); do
  mkdir -p "$WORK/rx$k"
  bed_receiver "rx$k" "$k" "$WORK/rx$k/object.bin" --progress "$(resume_opt "$k")"
done
bed_sender tx $N "$WORK/object.bin" 100M   # 64 MiB at 100 Mbit/s: several seconds of data

if wait_progress rx1 40 60; then
  pid=$(cmd_pid tx) && kill -KILL "$pid"
  log "killed the sender (pid ${pid:-?}) with rx1 at $(progress_of rx1)%"
else
  fail "rx1 never reported 40% progress (rx1 at '$(progress_of rx1)'%), so the sender was not killed mid-transfer"
fi

expect_rc tx 137   # killed by our SIGKILL, i.e. it was still running: the kill was mid-transfer
for k in $(seq 1 $N); do
  expect_rc_failed "rx$k"
  expect_log "rx$k" "lost the connection|sender" "names the lost sender"
  expect_eq "rx$k JSON outcome" "$(json "$WORK/rx$k.json" .outcome)" failed
  expect_no_file "$WORK/rx$k/object.bin"
  left=$(find "$WORK/rx$k" -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')
  if [ "$k" -eq 3 ]; then
    expect_eq "files rx3 (--no-resume) left" "$left" ""
  else
    expect_eq "files rx$k left (partial data kept for a resume, hidden)" "$left" \
      ".object.bin.shoal-part .object.bin.shoal-state "
  fi
done

log "restart: a new sender; rx1 and rx2 run the same command again"
for k in 1 2; do
  bed_receiver "again-rx$k" "$k" "$WORK/rx$k/object.bin" "$(resume_opt "$k")"
done
bed_sender again-tx 2 "$WORK/object.bin" 300M
expect_rc again-tx 0
for k in 1 2; do
  expect_rc "again-rx$k" 0
  expect_log "again-rx$k" "resuming" "resumed from the kept partial data"
  expect_same_sha "$WORK/object.bin" "$WORK/rx$k/object.bin"
  expect_no_temp "$WORK/rx$k"
done
# 64 MiB in 1408-byte symbols is 47663 source symbols; a resumed session skips blocks nobody lacks.
sent=$(json "$WORK/again-tx.json" .frames_sent)
full=$(((64 * 1048576 + 1407) / 1408))
expect "the resumed session sent fewer frames ($sent) than a whole object ($full)" test "${sent:-$full}" -lt "$full"
e2e_finish
