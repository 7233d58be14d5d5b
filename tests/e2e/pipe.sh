#!/usr/bin/env bash
# e2e (issue #17 item 3): `shoal recv --out -` writes the object to stdout, in order. Loopback only
# (TTL 0, IP_MULTICAST_LOOP), no root. rx1 pipes it into sha256sum: the hash must be the object's,
# rx1 exit 0, and its spool directory must be empty afterwards. rx2 pipes it into `head -c 1000`,
# which goes away: rx2 must fail (exit 1) saying the reader went away, and the sender's summary
# must say so too (exit 1), rx1 still done. `--out -` with `--json -` is refused (exit 2).
# Then `shoal send -`: the object piped into the sender (with --name) reaches a receiver whole, under
# that name; without --name it is refused (exit 2), and its spool directory is empty afterwards.
source "$(dirname "$0")/lib.sh"
e2e_init pipe "$@"
need_cmd timeout ss ip jq sha256sum head

loopback_session 64
make_object "$WORK/object.bin" 16
make_key "$WORK/key"
mkdir -p "$WORK/spool1" "$WORK/spool2"

recv_cmd="\"$SHOAL\" recv --sender 127.0.0.1:$LISTEN_PORT --key-file \"$WORK/key\" --out - --no-progress"
run_bg rx1 - 120 bash -c "set -o pipefail; TMPDIR=\"$WORK/spool1\" $recv_cmd --name rx1 --json \"$WORK/rx1.json\" | sha256sum >\"$WORK/rx1.sha\""
run_bg rx2 - 120 bash -c "set -o pipefail; TMPDIR=\"$WORK/spool2\" $recv_cmd --name rx2 --json \"$WORK/rx2.json\" | head -c 1000 >/dev/null"
run_bg tx - 120 "$SHOAL" send "$WORK/object.bin" --group "$GROUP:$GROUP_PORT" --ttl 0 --loopback \
  --listen "127.0.0.1:$LISTEN_PORT" --rate 100M --min-receivers 2 --max-wait 60s \
  --key-file "$WORK/key" --no-progress --json "$WORK/tx.json"
expect_rc rx1 0
expect_eq "sha256 of what rx1 wrote to stdout" "$(cut -d' ' -f1 "$WORK/rx1.sha")" "$(sha_of "$WORK/object.bin")"
expect_eq "rx1's spool directory afterwards" "$(ls -A "$WORK/spool1")" ""
expect_rc_failed rx2
expect_log rx2 "the reader of the pipe went away" "rx2 says why"
expect_rc tx 1
expect_eq "rx1 in the sender's JSON" "$(sender_outcome "$WORK/tx.json" rx1)" done
expect_eq "rx2 in the sender's JSON" "$(sender_outcome "$WORK/tx.json" rx2)" failed

run_bg both - 20 "$SHOAL" recv --sender "127.0.0.1:$LISTEN_PORT" --key-file "$WORK/key" --out - --json -
expect_rc both 2
expect_log both "give --json a file" "names the conflict"

LISTEN_PORT=$(free_port) && GROUP_PORT=$(free_port) || fail "no free port found"
mkdir -p "$WORK/rx3" "$WORK/txspool"
run_bg rx3 - 120 "$SHOAL" recv --sender "127.0.0.1:$LISTEN_PORT" --key-file "$WORK/key" \
  --out "$WORK/rx3/piped.bin" --name rx3 --json "$WORK/rx3.json"
run_bg tx2 - 120 bash -c "cat \"$WORK/object.bin\" | \"$SHOAL\" send - --name piped.bin \
  --group $GROUP:$GROUP_PORT --ttl 0 --loopback --listen 127.0.0.1:$LISTEN_PORT --rate 100M \
  --min-receivers 1 --max-wait 60s --key-file \"$WORK/key\" --no-progress --spool \"$WORK/txspool\""
expect_rc tx2 0
expect_rc rx3 0
expect_same_sha "$WORK/object.bin" "$WORK/rx3/piped.bin"
expect_log tx2 "read 16.0 MiB from stdin" "the sender says what it read"
expect_eq "the sender's spool directory afterwards" "$(ls -A "$WORK/txspool")" ""
run_bg noname - 20 bash -c "echo x | \"$SHOAL\" send - --insecure --listen 127.0.0.1:0"
expect_rc noname 2
expect_log noname "name the object with --name" "says what is missing"
e2e_finish
