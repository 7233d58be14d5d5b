#!/usr/bin/env bash
# e2e: a directory tree as one session (send DIR) on the namespace test bed, 2 receivers.
# Run 1: both receive the tree: `diff -r` finds no difference, and types, modes, symlink targets and
# mtimes (find -printf) match; the FIFO in the source is skipped with a warning; no temporary file or
# directory is left. Run 2, compressed (--compress zstd): a receiver whose --out exists is refused
# with a message naming --force and its old tree is untouched; the other, with --force, gets the new
# tree in place of its old one.
source "$(dirname "$0")/lib.sh"
e2e_init tree "$@"
need_root_netns
need_cmd jq diff find mkfifo

N=2
bed_up $N
make_key "$WORK/key"

T=$WORK/tree
mkdir -p "$T/etc/ssh" "$T/empty" "$T/deep/a/b/c" "$T/ro"
make_object "$T/big.bin" 8
head -c 1000 /dev/urandom >"$T/etc/ssh/host_key" && chmod 0600 "$T/etc/ssh/host_key"
printf '#!/bin/sh\necho hi\n' >"$T/run.sh" && chmod 0755 "$T/run.sh"
echo "read only" >"$T/readonly.txt" && chmod 0444 "$T/readonly.txt"
: >"$T/zero-length"
echo "spaces" >"$T/name with spaces"
echo inside >"$T/ro/inside" && chmod 0555 "$T/ro"
echo deep >"$T/deep/a/b/c/leaf"
ln -s etc/ssh/host_key "$T/rel-link"
ln -s /etc/hostname "$T/abs-link"
ln -s ../../nowhere "$T/etc/dangling"
ln -s deep/a "$T/dir-link"
mkfifo "$T/fifo"
touch -h -d '2020-02-02 02:02:02.123456789' "$T/rel-link" "$T/run.sh" "$T/etc"
chmod 0750 "$T"

# What must arrive: every entry but the FIFO, with type, mode, symlink target and mtime.
listing() { (cd "$1" && find . ! -name fifo -printf '%p %y %m %l %T@\n' | sort); }
listing "$T" >"$WORK/want.txt"
expect "the source listing has every entry" test "$(wc -l <"$WORK/want.txt")" -eq 21

log "run 1: the tree to $N receivers"
for k in $(seq 1 $N); do
  mkdir -p "$WORK/rx$k"
  bed_receiver "r1-rx$k" "$k" "$WORK/rx$k/tree"
done
bed_sender r1-tx $N "$T" 300M
expect_rc r1-tx 0
expect_log r1-tx "skipping .*fifo.*special files" "the FIFO is skipped with a reason"
for k in $(seq 1 $N); do
  expect_rc "r1-rx$k" 0
  expect "rx$k: diff -r finds no difference" diff -r --no-dereference --exclude=fifo "$T" "$WORK/rx$k/tree"
  listing "$WORK/rx$k/tree" >"$WORK/got$k.txt"
  expect "rx$k: types, modes, symlink targets and mtimes match" diff "$WORK/want.txt" "$WORK/got$k.txt"
  expect_eq "rx$k: symlink target" "$(readlink "$WORK/rx$k/tree/abs-link")" /etc/hostname
  expect_eq "rx$k: mode of ro/" "$(stat -c %a "$WORK/rx$k/tree/ro")" 555
  left=$(find "$WORK/rx$k" -maxdepth 1 -name '*shoal*')
  expect_eq "rx$k: temporary files left" "$left" ""
done

log "run 2: --compress zstd; rx1's --out exists (refused), rx2 replaces its copy with --force"
echo stale >"$WORK/rx2/tree/stale"
echo "changed" >"$T/name with spaces"
listing "$T" >"$WORK/want2.txt"
bed_receiver r2-rx1 1 "$WORK/rx1/tree"
bed_receiver r2-rx2 2 "$WORK/rx2/tree" --force
bed_sender r2-tx $N "$T" 300M --compress zstd
expect_rc r2-tx 1
expect_rc_failed r2-rx1
expect_log r2-rx1 "already exists.*--force" "rx1 refuses to overwrite its existing tree"
expect_eq "rx1's old tree is untouched" "$(cat "$WORK/rx1/tree/name with spaces")" spaces
expect_eq "sender JSON outcome of rx1" "$(sender_outcome "$WORK/r2-tx.json" rx1)" failed
expect_rc r2-rx2 0
expect_eq "sender JSON outcome of rx2" "$(sender_outcome "$WORK/r2-tx.json" rx2)" done
expect "rx2: diff -r finds no difference" diff -r --no-dereference --exclude=fifo "$T" "$WORK/rx2/tree"
listing "$WORK/rx2/tree" >"$WORK/got2b.txt"
expect "rx2: types, modes, symlink targets and mtimes match" diff "$WORK/want2.txt" "$WORK/got2b.txt"
expect_no_file "$WORK/rx2/tree/stale"
for k in 1 2; do
  left=$(find "$WORK/rx$k" -maxdepth 1 -name '*shoal*')
  expect_eq "rx$k: temporary files left after run 2" "$left" ""
done
e2e_finish
