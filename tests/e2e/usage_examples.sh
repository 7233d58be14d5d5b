#!/usr/bin/env bash
# e2e: the examples of docs/usage.md, run as written there, on the namespace test bed. Only the things
# that differ on a test bed are substituted: addresses (10.0.0.1 -> the bed's sender), interfaces
# (eth0/eth1 -> v0), paths (into this test's work dir) and fleet sizes (4 and 40 receivers -> the bed's 2).
# Extracted: the "A session" block (keygen, recv on every receiver, send) and the `shoal recvd` block
# (a daemon on every receiver, send --announce). Both transfers must verify on every receiver.
source "$(dirname "$0")/lib.sh"
e2e_init usage "$@"
need_root_netns
DOC="$SRC/docs/usage.md"
[ -f "$DOC" ] || fail "no $DOC"

# block HEADING: the first fenced block after the line "HEADING", continuation lines joined.
block() {
  awk -v h="$1" '$0 == h {s = 1; next} s && /^```/ {if (in_b) exit; in_b = 1; next} in_b {print}' "$DOC" |
    sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta'
}
# subst K: the bed's values for receiver K (0 = the sender's side).
subst() {
  sed -e "s#10\.0\.0\.1#198.18.0.1#g" -e "s#--iface eth[01]#--iface v0#g" \
    -e "s#/etc/shoal/shoal\.key#$WORK/shoal.key#g" -e "s# shoal\.key# $WORK/shoal.key#g" \
    -e "s#/data/image\.raw#$WORK/rx$1/image.raw#g" -e "s#/var/lib/images/#$WORK/rx$1/#g" \
    -e "s#/usr/local/lib/shoal/after-receive#$WORK/hook.sh#g" \
    -e "s#send image\.raw#send $WORK/image.raw#" -e "s#send debian-12-generic\.img#send $WORK/debian-12-generic.img#" \
    -e "s#--min-receivers [0-9]*#--min-receivers 2#" -E -e "s#(^|[(; ])shoal #\1\"\$SHOAL\" #g"
}
strip_comment() { sed -e 's/[[:space:]]*# .*$//'; }

session=$(block "## A session")
daemon=$(block '## `shoal recvd`')
grep -q "shoal recv " <<<"$session" && grep -q "shoal send " <<<"$session" ||
  fail "docs/usage.md 'A session' block no longer has a recv and a send line"
grep -q "shoal recvd " <<<"$daemon" && grep -q "shoal send .*--announce" <<<"$daemon" ||
  fail "docs/usage.md recvd block no longer has a recvd and a send --announce line"

bed_up 2
make_object "$WORK/image.raw" 8
make_object "$WORK/debian-12-generic.img" 8
printf '#!/bin/sh\necho "$1 $2" > "$1.hook"\n' >"$WORK/hook.sh"
chmod +x "$WORK/hook.sh"

log "example 1: A session"
keygen=$(grep "keygen" <<<"$session" | strip_comment)
(cd "$WORK" && SHOAL="$SHOAL" && eval "$(subst 0 <<<"$keygen")") || fail "keygen line failed: $keygen"
[ -s "$WORK/shoal.key" ] || fail "the keygen example made no key"
for k in 1 2; do
  mkdir -p "$WORK/rx$k"
  cmd=$(grep "^shoal recv " <<<"$session" | strip_comment | subst $k)
  run_bg "recv$k" "rx$k" 60 bash -c "SHOAL='$SHOAL'; eval \"\$1\"" _ "$cmd --no-progress"
done
cmd=$(grep "^shoal send " <<<"$session" | strip_comment | subst 0)
log "sender: $cmd"
run_bg send1 tx 90 bash -c "SHOAL='$SHOAL'; eval \"\$1\"" _ "$cmd --no-progress"
expect_rc send1 0
for k in 1 2; do
  expect_rc "recv$k" 0
  expect_same_sha "$WORK/image.raw" "$WORK/rx$k/image.raw"
done

log "example 2: shoal recvd"
for k in 1 2; do
  cmd=$(grep "^shoal recvd " <<<"$daemon" | strip_comment | subst $k)
  run_bg "daemon$k" "rx$k" 60 bash -c "SHOAL='$SHOAL'; eval \"\$1\"" _ "$cmd --name rx$k"
  wait_log "daemon$k" "waiting for session announcements" 20 || fail "daemon$k did not start"
done
cmd=$(grep "^shoal send " <<<"$daemon" | strip_comment | subst 0)
log "sender: $cmd"
run_bg send2 tx 90 bash -c "SHOAL='$SHOAL'; eval \"\$1\"" _ "$cmd --no-progress"
expect_rc send2 0
for k in 1 2; do
  expect_same_sha "$WORK/debian-12-generic.img" "$WORK/rx$k/debian-12-generic.img"
  for _ in $(seq 1 50); do [ -s "$WORK/rx$k/debian-12-generic.img.hook" ] && break; sleep 0.1; done
  expect "rx$k's hook ran" test -s "$WORK/rx$k/debian-12-generic.img.hook"
done
e2e_finish
