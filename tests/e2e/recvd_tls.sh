#!/usr/bin/env bash
# e2e: the receiver daemon with TLS certificates and no pre-shared key (daemon/recv_daemon.h,
# "Authentication"). scripts/tls-certs.sh makes our CA (sender, rx1) and a foreign one (rx2).
#   rx1: `shoal recvd` with rx1's certificate (options on the command line);
#   rx2: `shoal recvd` from a --config file, its certificate from the foreign CA (it trusts ours).
#  1. `shoal send --announce` with TLS and no key (so its announcements are unsigned): rx1 receives
#     the object byte for byte and the sender exits 0 naming rx1's TLS identity; rx2 takes the
#     announcement, the sender refuses its certificate, and rx2 has no file under the final name;
#  2. a sender without a certificate (--insecure) announces to the daemons: rx1 accepts the unsigned
#     announcement, its TLS handshake fails, and nothing is written;
#  3. bad combinations are refused at start with the fix: --insecure with TLS, an incomplete or
#     unreadable TLS set.
source "$(dirname "$0")/lib.sh"
e2e_init rtl "$@"
need_root_netns
need_cmd jq openssl

bed_up 2
bash "$SRC/scripts/tls-certs.sh" "$WORK/pki" sender rx1 >/dev/null || fail "cannot make certificates"
bash "$SRC/scripts/tls-certs.sh" "$WORK/other" rx2 >/dev/null || fail "cannot make the foreign CA"
make_object "$WORK/image-a.bin" 8
make_object "$WORK/image-c.bin" 1
mkdir -p "$WORK/rx1" "$WORK/rx2"
cat >"$WORK/recvd2.toml" <<EOF
iface = "v0"
tls-cert = "$WORK/other/rx2.pem"
tls-key = "$WORK/other/rx2.key"
tls-ca = "$WORK/pki/ca.pem"
map = ["image-*=$WORK/rx2/"]
name = "rx2"
EOF

run_bg d1 rx1 120 "$SHOAL" recvd --iface v0 --map "image-*=$WORK/rx1/" --name rx1 \
  --tls-cert "$WORK/pki/rx1.pem" --tls-key "$WORK/pki/rx1.key" --tls-ca "$WORK/pki/ca.pem"
run_bg d2 rx2 120 "$SHOAL" recvd --config "$WORK/recvd2.toml"
for d in d1 d2; do
  wait_log $d "waiting for session announcements" 20 || fail "$d did not start listening"
  expect_log $d "TLS without a key: unsigned announcements are accepted" "$d runs on certificates alone"
done

log "1: a TLS sender without a key announces; rx1 receives, rx2's foreign certificate is refused"
# --min-receivers 2: the sender announces until --max-wait, so rx2 surely tries while it listens.
run_bg tx1 tx 90 "$SHOAL" send "$WORK/image-a.bin" --group "$BED_GROUP:$BED_PORT" --iface v0 \
  --listen "$BED_LISTEN" --rate 200M --min-receivers 2 --max-wait 8s --json "$WORK/tx1.json" \
  --no-progress --announce --tls-cert "$WORK/pki/sender.pem" --tls-key "$WORK/pki/sender.key" \
  --tls-ca "$WORK/pki/ca.pem"
expect_rc tx1 0
expect_log tx1 "announcing the session .*unsigned.*TLS certificates" "the sender's announcements are unsigned"
expect_same_sha "$WORK/image-a.bin" "$WORK/rx1/image-a.bin"
expect "rx1's copy is byte-identical" cmp -s "$WORK/image-a.bin" "$WORK/rx1/image-a.bin"
expect_eq "sender JSON outcome of rx1" "$(sender_outcome "$WORK/tx1.json" rx1)" "done"
expect_eq "rx1's TLS identity in the sender's summary" \
  "$(json "$WORK/tx1.json" '.receivers[]? | select(.name == "rx1") | .tls_identity')" rx1
expect_eq "receivers admitted" "$(json "$WORK/tx1.json" '.receivers | length')" 1
expect_log d1 "image-a.bin.*verified and written to" "rx1's daemon verified the object"
wait_log d2 "image-a.bin.*failed" 30 || true
expect_log d2 "image-a.bin.*accepted, receiving into" "rx2 took the unsigned announcement"
expect_log d2 "(TLS handshake failed|during the join).*--tls-ca" "rx2 is told its certificate was not trusted"
expect_log d2 "image-a.bin.*failed" "rx2's session failed"
expect_log tx1 "TLS.*(certificate|verify)" "the sender logs rx2's failed TLS handshake"
expect_no_file "$WORK/rx2/image-a.bin"
expect_no_temp "$WORK/rx2"

log "2: an unauthenticated sender's announcement leads only to a failed TLS handshake"
run_bg tx2 tx 60 "$SHOAL" send "$WORK/image-c.bin" --group "$BED_GROUP:$BED_PORT" --iface v0 \
  --listen "$BED_LISTEN" --rate 200M --min-receivers 1 --max-wait 4s --insecure --announce \
  --json "$WORK/tx2.json" --no-progress
expect_rc tx2 1
wait_log d1 "image-c.bin.*failed" 30 || true
expect_log d1 "image-c.bin.*accepted, receiving into" "rx1 took the unsigned announcement"
expect_log d1 "image-c.bin.*failed" "rx1's session with the sender without a certificate failed"
expect_log d1 "TLS handshake failed with the sender.*runs with --tls-cert" "rx1 is told the sender does not speak TLS"
for k in 1 2; do expect_no_file "$WORK/rx$k/image-c.bin"; done

for d in d1 d2; do
  kill -TERM "$(cmd_pid $d)"
  expect_rc $d 0
done

log "3: bad combinations are refused at start"
tls1=(--tls-cert "$WORK/pki/rx1.pem" --tls-key "$WORK/pki/rx1.key" --tls-ca "$WORK/pki/ca.pem")
run_bg bad1 - 20 "$SHOAL" recvd --map "x=$WORK/rx1/" --insecure "${tls1[@]}"
expect_rc bad1 2
expect_log bad1 "--insecure and --tls-cert.*contradict.*drop --insecure"
run_bg bad2 - 20 "$SHOAL" recvd --map "x=$WORK/rx1/" --tls-cert "$WORK/pki/rx1.pem"
expect_rc bad2 2
expect_log bad2 "TLS needs all of --tls-cert, --tls-key and --tls-ca"
run_bg bad3 - 20 "$SHOAL" recvd --map "x=$WORK/rx1/" --tls-cert "$WORK/missing.pem" \
  --tls-key "$WORK/pki/rx1.key" --tls-ca "$WORK/pki/ca.pem"
expect_rc bad3 2
expect_log bad3 "--tls-cert '$WORK/missing.pem'"
run_bg bad4 - 20 "$SHOAL" recvd --map "x=$WORK/rx1/"
expect_rc bad4 2
expect_log bad4 "no key: pass --key-file.*--tls-cert.*--insecure"
e2e_finish
