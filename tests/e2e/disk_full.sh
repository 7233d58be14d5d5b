#!/usr/bin/env bash
# e2e 5: one receiver's --out is on a tmpfs smaller than the object. That receiver must fail with a
# message about space and leave nothing under the final name (nor a temp file); the other receivers
# still get verified copies; the sender exits non-zero and reports that receiver failed.
# The tmpfs is mounted in a private mount namespace (unshare -m) that lives only as long as that
# receiver, so nothing can stay mounted after the test, whatever happens to it.
source "$(dirname "$0")/lib.sh"
e2e_init dfull "$@"
need_root_netns
need_cmd jq unshare mount

N=3
bed_up $N
make_object "$WORK/object.bin" 32
make_key "$WORK/key"
mkdir -p "$WORK/small"

# rx1: mount a 4 MiB tmpfs on $WORK/small, run the receiver there, then list what it left behind
# (from inside the mount namespace: the tmpfs is invisible outside it).
# shellcheck disable=SC2016  # the inner script expands its own arguments
run_bg rx1 - 120 unshare --mount --propagation private bash -c '
  dir=$1 ns=$2 listing=$3
  shift 3
  mount -t tmpfs -o size=4m shoal-e2e "$dir" || exit 90
  ip netns exec "$ns" "$@"
  rc=$?
  find "$dir" -mindepth 1 >"$listing"
  exit $rc' _ "$WORK/small" "$BED-rx1" "$WORK/small.listing" \
  "$SHOAL" recv --sender "$BED_LISTEN" --iface v0 --key-file "$WORK/key" --out "$WORK/small/object.bin" \
  --name rx1 --json "$WORK/rx1.json"
for k in $(seq 2 $N); do
  mkdir -p "$WORK/rx$k"
  bed_receiver "rx$k" "$k" "$WORK/rx$k/object.bin"
done
bed_sender tx $N "$WORK/object.bin" 300M

expect_rc_failed rx1
if [ "${E2E_RC[rx1]}" = 90 ]; then fail "could not mount a tmpfs for rx1 (see rx1.log)"; fi
expect_log rx1 "space" "the failure mentions (disk) space"
expect_eq "rx1 JSON outcome" "$(json "$WORK/rx1.json" .outcome)" failed
if [ -f "$WORK/small.listing" ]; then
  expect_eq "files rx1 left on its tmpfs (none: no final file, no temp file)" "$(cat "$WORK/small.listing")" ""
else
  fail "rx1's tmpfs was not listed after it ran"
fi
expect_no_file "$WORK/small/object.bin"   # and nothing leaked to the real directory under the mount point

expect_rc tx 1
expect_eq "sender JSON outcome of rx1" "$(sender_outcome "$WORK/tx.json" rx1)" failed
expect "sender JSON reason for rx1 mentions space" \
  grep -qi space <<<"$(json "$WORK/tx.json" '.receivers[]? | select(.name == "rx1") | .reason')"
for k in $(seq 2 $N); do
  expect_rc "rx$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/rx$k/object.bin"
  expect_no_temp "$WORK/rx$k"
  expect_eq "sender JSON outcome of rx$k" "$(sender_outcome "$WORK/tx.json" "rx$k")" "done"
done
e2e_finish
