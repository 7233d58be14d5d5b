#!/usr/bin/env bash
# e2e (issue #17 item 3): `shoal send - --size N` reads stdin while the session runs, through a spool
# that holds only what repair may still need (--spool-max). On the namespace test bed:
#  1. a 160 MiB object piped into the sender with --spool-max 64M, 2% loss toward all 3 receivers,
#     and "far", a receiver on another subnet that multicast does not reach (served by unicast from
#     the same spool): every copy verifies, the sender exits 0, its JSON says the spool held at most
#     --spool-max (and so less than the object), repair went out, far went unicast, and the spool
#     directory is empty afterwards;
#  2. the same with rx1's port limited to 20 Mbit/s: rx1 falls a spool behind and fails with that
#     reason, rx2 and rx3 verify (exit 0), the sender exits 1 and its JSON names rx1 as failed;
#  3. a pipe shorter than --size: the sender says so and exits 1, the receiver fails (nothing
#     under its final name);
#  4. refused with exit 2 and the fix: --size without `-`, --size with --until, --spool-max below 64M.
# No timing thresholds: outcomes are exit codes, hashes, JSON fields and log lines.
source "$(dirname "$0")/lib.sh"
e2e_init pspool "$@"
need_root_netns
need_cmd jq

N=3
MIB=160
bed_up $N
make_object "$WORK/object.bin" $MIB
make_key "$WORK/key"
size=$(stat -c %s "$WORK/object.bin")
spool_max=$((64 << 20))

# pipe_sender NAME N CMD_FEEDING_STDIN [extra send options]
pipe_sender() {
  local name=$1 n=$2 feed=$3
  shift 3
  mkdir -p "$WORK/$name.spool"
  run_bg "$name" tx 150 bash -c "$feed | \"$SHOAL\" send - --name piped.bin --size $size \
    --spool-max 64M --spool \"$WORK/$name.spool\" --group $BED_GROUP:$BED_PORT --iface v0 \
    --listen $BED_LISTEN --min-receivers $n --max-wait 60s --key-file \"$WORK/key\" \
    --json \"$WORK/$name.json\" --no-progress $*"
}

# receivers TAG: receivers 1..N as processes TAG1..TAGN, each writing $WORK/TAGk/piped.bin
receivers() {
  local k
  for k in $(seq 1 $N); do
    mkdir -p "$WORK/$1$k"
    bed_receiver "$1$k" "$k" "$WORK/$1$k/piped.bin"
  done
}

log "1: $MIB MiB through a 64 MiB spool, 2% loss, and a receiver on another subnet"
"$TESTBED" loss "$BED" all 20 || fail "cannot set loss"
"$TESTBED" far "$BED" >/dev/null || fail "cannot add the far receiver to the test bed"
receivers a
mkdir -p "$WORK/far"
run_bg far far 120 "$SHOAL" recv --sender "$BED_LISTEN" --key-file "$WORK/key" \
  --out "$WORK/far/piped.bin" --name far --json "$WORK/far.json"
pipe_sender tx $((N + 1)) "cat \"$WORK/object.bin\"" --rate 300M
expect_rc tx 0
for k in $(seq 1 $N); do
  expect_rc "a$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/a$k/piped.bin"
done
expect_rc far 0
expect_same_sha "$WORK/object.bin" "$WORK/far/piped.bin"
expect_eq "far's path in the sender's JSON" \
  "$(json "$WORK/tx.json" '.receivers[] | select(.name == "far") | .path')" unicast
peak=$(json "$WORK/tx.json" .spool_peak_bytes)
expect_eq "the JSON's spool bound" "$(json "$WORK/tx.json" .spool_max_bytes)" "$spool_max"
expect "the spool held at most --spool-max ($peak <= $spool_max)" test "${peak:-999999999999}" -le "$spool_max"
expect "the spool held less than the object ($peak < $size)" test "${peak:-999999999999}" -lt "$size"
expect "repair went out (2% loss)" test "$(json "$WORK/tx.json" .repair_bytes_interleaved)" -gt 0
expect_log tx "the spool held at most" "the sender reports the spool's peak"
expect_eq "the sender's spool directory afterwards" "$(ls -A "$WORK/tx.spool")" ""
"$TESTBED" noloss "$BED" || fail "cannot clear loss"

log "2: rx1 behind a 20 Mbit/s port falls a spool behind; the others go on"
BED_PORT=9002
"$TESTBED" portcap "$BED" 1 20mbit || fail "cannot limit rx1's port"
receivers b
pipe_sender tx2 $N "cat \"$WORK/object.bin\"" --rate 300M
expect_rc tx2 1
expect_rc_failed b1
expect_no_file "$WORK/b1/piped.bin"
for k in 2 3; do
  expect_rc "b$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/b$k/piped.bin"
done
expect_eq "rx1 in the sender's JSON" "$(sender_outcome "$WORK/tx2.json" rx1)" failed
expect "the sender says rx1 fell a spool behind" \
  grep -q "fell a spool behind" <<<"$(json "$WORK/tx2.json" '.receivers[] | select(.name == "rx1") | .reason')"
"$TESTBED" portcap "$BED" 1 off || fail "cannot lift rx1's limit"

log "3: a pipe shorter than --size"
BED_PORT=9004
mkdir -p "$WORK/c1"
bed_receiver c1 1 "$WORK/c1/piped.bin"
pipe_sender tx3 1 "head -c $((size / 2)) \"$WORK/object.bin\"" --rate 300M
expect_rc tx3 1
expect_log tx3 "stdin ended after $((size / 2)) bytes; --size says $size" "names both lengths"
expect_rc_failed c1
expect_no_file "$WORK/c1/piped.bin"

log "4: refused"
run_bg nodash - 20 "$SHOAL" send "$WORK/object.bin" --size 1M --insecure --listen 127.0.0.1:0
expect_rc nodash 2
expect_log nodash "goes with .shoal send -. only" "--size without -"
run_bg until - 20 bash -c "echo x | \"$SHOAL\" send - --name x --size 2 --until 1m --insecure --listen 127.0.0.1:0"
expect_rc until 2
expect_log until "drop --size to spool stdin whole" "--until needs every block"
run_bg small - 20 bash -c "echo x | \"$SHOAL\" send - --name x --size 2 --spool-max 1M --insecure --listen 127.0.0.1:0"
expect_rc small 2
expect_log small "--spool-max 1.0 MiB is below 64.0 MiB" "names the least spool"
e2e_finish
