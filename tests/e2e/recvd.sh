#!/usr/bin/env bash
# e2e: the receiver daemon on the namespace test bed. `shoal recvd` runs on rx1 (options on the
# command line) and rx2 (the same options from a --config file), accepting objects named image-* into
# a directory of its own and running a hook that records the path and SHA-256 it was given. Then:
#  1. one `shoal send --announce` of image-a.bin: both daemons join without --sender, both copies
#     match the source's SHA-256, and each hook ran with that path and hash;
#  2. a session of secret.bin, which no rule accepts: both daemons say so and stay out, the sender
#     finds nobody (exit 1), no file appears;
#  3. SIGTERM to rx1's daemon while image-b.bin is being received: the daemon exits 0, says it
#     abandoned the session, and leaves no file under the final name; rx2 still verifies its copy.
source "$(dirname "$0")/lib.sh"
e2e_init rcd "$@"
need_root_netns
need_cmd jq

bed_up 2
make_key "$WORK/key"
make_object "$WORK/image-a.bin" 16
make_object "$WORK/image-b.bin" 48
cp "$WORK/image-a.bin" "$WORK/secret.bin"
mkdir -p "$WORK/rx1" "$WORK/rx2"
cat >"$WORK/hook.sh" <<'EOF'
#!/bin/sh
# Records what the daemon passed: arguments, then the same facts from the environment.
echo "$1 $2 $SHOAL_PATH $SHOAL_SHA256 $SHOAL_OBJECT" >"$1.hook"
EOF
chmod 755 "$WORK/hook.sh"
cat >"$WORK/recvd2.toml" <<EOF
iface = "v0"
key-file = ["$WORK/key"]
map = ["image-*=$WORK/rx2/"]
hook = "$WORK/hook.sh"
name = "rx2"
EOF

run_bg d1 rx1 280 "$SHOAL" recvd --iface v0 --key-file "$WORK/key" --map "image-*=$WORK/rx1/" \
  --hook "$WORK/hook.sh" --name rx1
run_bg d2 rx2 280 "$SHOAL" recvd --config "$WORK/recvd2.toml"
for d in d1 d2; do
  wait_log $d "waiting for session announcements" 20 || fail "$d did not start listening"
done

log "1: one announced session, both daemons receive it"
bed_sender tx1 2 "$WORK/image-a.bin" 300M --announce
expect_rc tx1 0
want=$(sha_of "$WORK/image-a.bin")
for k in 1 2; do
  expect_same_sha "$WORK/image-a.bin" "$WORK/rx$k/image-a.bin"
  expect_eq "sender JSON outcome of rx$k" "$(sender_outcome "$WORK/tx1.json" "rx$k")" "done"
  hook="$WORK/rx$k/image-a.bin.hook"
  for _ in $(seq 1 100); do [ -s "$hook" ] && break; sleep 0.1; done   # the hook runs after the commit
  read -r h_path h_sha e_path e_sha e_obj <"$hook" 2>/dev/null || true
  expect_eq "rx$k hook argument 1 (path)" "${h_path:-}" "$WORK/rx$k/image-a.bin"
  expect_eq "rx$k hook argument 2 (sha256)" "${h_sha:-}" "$want"
  expect_eq "rx$k hook SHOAL_PATH" "${e_path:-}" "$WORK/rx$k/image-a.bin"
  expect_eq "rx$k hook SHOAL_SHA256" "${e_sha:-}" "$want"
  expect_eq "rx$k hook SHOAL_OBJECT" "${e_obj:-}" "image-a.bin"
  expect_no_temp "$WORK/rx$k"
done

log "2: a session the policy refuses"
run_bg tx2 tx 60 "$SHOAL" send "$WORK/secret.bin" --group "$BED_GROUP:$BED_PORT" --iface v0 \
  --listen "$BED_LISTEN" --rate 300M --min-receivers 1 --max-wait 4s --key-file "$WORK/key" \
  --announce --json "$WORK/tx2.json" --no-progress
expect_rc tx2 1
for k in 1 2; do
  expect_log d$k "secret.bin.*not accepted: no --map rule matches" "rx$k refused secret.bin"
  expect_no_file "$WORK/rx$k/secret.bin"
done

log "3: SIGTERM to rx1's daemon mid-transfer"
bed_sender tx3 2 "$WORK/image-b.bin" 40M --announce
d1pid=$(cmd_pid d1)
# Data is flowing once the receiver has checkpointed verified blocks (its resume state file).
for _ in $(seq 1 300); do [ -s "$WORK/rx1/.image-b.bin.shoal-state" ] && break; sleep 0.1; done
if [ -s "$WORK/rx1/.image-b.bin.shoal-state" ] && [ ! -e "$WORK/rx1/image-b.bin" ]; then
  pass "rx1 is mid-transfer (partial data, no final file yet)"
else
  fail "rx1 never got to mid-transfer of image-b.bin"
fi
kill -TERM "$d1pid"
expect_rc d1 0
expect_log d1 "image-b.bin.*abandoned on stop" "the session was abandoned on stop"
expect_log d1 "stopped"
expect_no_file "$WORK/rx1/image-b.bin"
expect_rc tx3 1
expect_eq "sender JSON outcome of rx1" "$(sender_outcome "$WORK/tx3.json" rx1)" "failed"
expect_eq "sender JSON outcome of rx2" "$(sender_outcome "$WORK/tx3.json" rx2)" "done"
expect_same_sha "$WORK/image-b.bin" "$WORK/rx2/image-b.bin"
e2e_finish
