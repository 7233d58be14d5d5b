#!/usr/bin/env bash
# e2e (issue #17 item 7): the target disk from the announcement's policy. `shoal send --announce
# --target 'disk:model=SHOAL*'`; receivers run `recv --announce --target-from-announcement`, each
# with its own view of /sys/block (a bind mount in its mount namespace) over a loop device:
#  - rx1 sees one disk of that model (the loop device): it writes the object there, verified;
#  - rx2 sees two disks of that model: it refuses to guess (exit 2), naming both, and never joins;
#  - a receiver refuses (exit 2) a policy from an unsigned announcement (--insecure on both sides),
#    and an announcement that names no target;
#  - bad options are refused with exit 2: --target without --announce, a malformed --target,
#    --out with --target-from-announcement, --target-from-announcement without --announce.
source "$(dirname "$0")/lib.sh"
e2e_init atg "$@"
need_root_netns
need_cmd jq losetup unshare

LOOP=""
trap '[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null; e2e_cleanup' EXIT
truncate -s 40M "$WORK/disk.img"
LOOP=$(losetup -f --show "$WORK/disk.img") || skip "cannot attach a loop device (losetup -f failed)"
dev=${LOOP#/dev/}

# fake_sys DIR NAME MODEL: a /sys/block entry as the kernel lays it out for a physical disk.
fake_sys() {
  mkdir -p "$1/$2/device"
  echo $((40 * 2048)) >"$1/$2/size"
  echo 0 >"$1/$2/removable"
  echo 0 >"$1/$2/ro"
  echo "$3" >"$1/$2/device/model"
  echo "E2E-$2" >"$1/$2/device/serial"
}
fake_sys "$WORK/sys1" "$dev" "SHOAL TEST DISK"
fake_sys "$WORK/sys2" "$dev" "SHOAL TEST DISK"
fake_sys "$WORK/sys2" nvme9n1 "SHOAL TEST DISK 2"

bed_up 2
make_key "$WORK/key"
make_object "$WORK/image.bin" 24
SIZE=$(stat -c %s "$WORK/image.bin")

log "1: bad options"
run_bg no_announce - 20 "$SHOAL" send "$WORK/image.bin" --target disk --key-file "$WORK/key"
run_bg bad_policy - 20 "$SHOAL" send "$WORK/image.bin" --announce --target /etc/passwd \
  --key-file "$WORK/key"
run_bg both_outs - 20 "$SHOAL" recv --announce --target-from-announcement --out "$WORK/x.bin" \
  --key-file "$WORK/key"
run_bg no_ann - 20 "$SHOAL" recv --sender "$BED_LISTEN" --target-from-announcement \
  --key-file "$WORK/key"
for r in no_announce bad_policy both_outs no_ann; do expect_rc $r 2; done
expect_log no_announce "--target goes into the session's announcement: add --announce"
expect_log bad_policy "target policy '/etc/passwd' is not a path under /dev/"
expect_log both_outs "--out and --target-from-announcement are alternatives"
expect_log no_ann "--target-from-announcement takes the disk from the session's announcement: add --announce"
expect_no_file "$WORK/x.bin"

log "2: one receiver sees one matching disk, the other two"
recv_with_sys() {   # NAME K SYSDIR: recv in rxK with SYSDIR as its /sys/block
  run_bg "$1" "rx$2" 120 unshare -m --propagation private sh -c \
    'mount --bind "$1" /sys/block && shift && exec "$@"' sh "$3" \
    "$SHOAL" recv --announce --target-from-announcement --iface v0 --key-file "$WORK/key" \
    --name "rx$2" --json "$WORK/$1.json" --state-dir "$WORK/state" --no-progress
}
recv_with_sys r1 1 "$WORK/sys1"
recv_with_sys r2 2 "$WORK/sys2"
for r in r1 r2; do
  wait_log $r "waiting for a session announcement" 20 || fail "$r did not start listening"
done
bed_sender tx 1 "$WORK/image.bin" 300M --announce --target 'disk:model=SHOAL*'
expect_rc tx 0
expect_rc r1 0
expect_log r1 "target disk /dev/$dev \(the announcement's policy 'disk:model=SHOAL\*'\)" \
  "rx1 names the disk it chose and why"
expect "the disk holds the object" cmp -n "$SIZE" "$WORK/image.bin" "$LOOP"
expect_rc r2 2
expect_log r2 "matches 2 disks, and shoal does not guess which to overwrite: $dev .*nvme9n1" \
  "rx2 refuses to guess, naming both disks"
expect_eq "receivers in the sender's summary" "$(json "$WORK/tx.json" '.receivers | length')" 1
expect_eq "sender JSON outcome of rx1" "$(sender_outcome "$WORK/tx.json" rx1)" "done"

log "3: no disk from an unsigned announcement, nor from one that names none"
refusing() {   # NAME SENDER-OPTIONS...: rx1 takes its target from the announcement of this sender
  local name=$1
  shift
  local auth=(--key-file "$WORK/key")
  [[ " $* " == *" --insecure "* ]] && auth=(--insecure)
  run_bg "$name" rx1 60 unshare -m --propagation private sh -c \
    'mount --bind "$1" /sys/block && shift && exec "$@"' sh "$WORK/sys1" \
    "$SHOAL" recv --announce --target-from-announcement --iface v0 "${auth[@]}" \
    --name rx1 --state-dir "$WORK/state" --no-progress
  wait_log "$name" "waiting for a session announcement" 20 || fail "$name did not start listening"
  run_bg "$name-tx" tx 30 "$SHOAL" send "$WORK/image.bin" --group "$BED_GROUP:$BED_PORT" \
    --iface v0 --listen "$BED_LISTEN" --rate 300M --max-wait 3s --announce --no-progress "$@"
  expect_rc "$name" 2
  wait_rc "$name-tx"   # nobody joins: it ends after --max-wait, freeing the port for the next
}
dd if=/dev/zero of="$LOOP" bs=1M count=24 conv=fsync status=none
refusing unsigned --insecure --target 'disk:model=SHOAL*'
expect_log unsigned "the announcement names target 'disk:model=SHOAL\*' but is unsigned" \
  "refuses a disk chosen by an unsigned announcement"
refusing untargeted --key-file "$WORK/key"
expect_log untargeted "the announced session names no target disk \(its sender has no --target\)" \
  "refuses to guess when the announcement names no disk"
expect "nothing was written to the disk" cmp -s -n "$SIZE" "$LOOP" /dev/zero
e2e_finish
