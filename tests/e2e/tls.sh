#!/usr/bin/env bash
# e2e: the control plane over TLS 1.3 with certificates instead of a pre-shared key
# (scripts/tls-certs.sh makes the CA and certificates). The sender allows certificate names rx*:
#   rx1 (cert CN rx1, our CA)        joins, receives the object (--encrypt: the data key crosses the
#                                    TLS channel sealed under its exporter key) and verifies it;
#   rx2 (cert CN intruder, our CA)   is refused by name (--allow cn:rx*), with the reason;
#   rx3 (cert CN rx3 from another CA) fails the TLS handshake: its certificate does not verify.
# The sender exits 0 (only rx1 was admitted) and lists rx1's TLS identity.
source "$(dirname "$0")/lib.sh"
e2e_init tls "$@"
need_root_netns
need_cmd jq openssl

bed_up 3
bash "$SRC/scripts/tls-certs.sh" "$WORK/pki" sender rx1 intruder >/dev/null || fail "cannot make certificates"
bash "$SRC/scripts/tls-certs.sh" "$WORK/other" rx3 >/dev/null || fail "cannot make the foreign CA"
make_object "$WORK/object.bin" 8
tls_of() { echo --tls-cert "$1/$2.pem" --tls-key "$1/$2.key" --tls-ca "$WORK/pki/ca.pem"; }
recv_tls() {   # NAME K DIR CERTNAME
  mkdir -p "$WORK/$1"
  # shellcheck disable=SC2046
  run_bg "$1" "rx$2" 60 "$SHOAL" recv --sender "$BED_LISTEN" --iface v0 --out "$WORK/$1/object.bin" \
    --name "rx$2" --json "$WORK/$1.json" --connect-timeout 20s $(tls_of "$3" "$4")
}
# shellcheck disable=SC2046
run_bg tx tx 90 "$SHOAL" send "$WORK/object.bin" --group "$BED_GROUP:$BED_PORT" --iface v0 \
  --listen "$BED_LISTEN" --rate 200M --min-receivers 1 --max-wait 8s --json "$WORK/tx.json" \
  --no-progress --encrypt --allow 'cn:rx*' $(tls_of "$WORK/pki" sender)
recv_tls rx2 2 "$WORK/pki" intruder
recv_tls rx3 3 "$WORK/other" rx3
sleep 1
recv_tls rx1 1 "$WORK/pki" rx1
expect_rc rx1 0
expect_rc tx 0
expect_rc_failed rx2
expect_rc_failed rx3
expect_same_sha "$WORK/object.bin" "$WORK/rx1/object.bin"
expect_no_file "$WORK/rx2/object.bin"
expect_no_file "$WORK/rx3/object.bin"
expect_log rx2 "certificate CN 'intruder' is not in --allow" "rx2 is told why it was refused"
expect_log tx "TLS.*(certificate|verify)" "the sender logs rx3's failed TLS handshake"
expect_log rx3 "(TLS handshake failed|during the join).*--tls-ca" "rx3 is told its certificate was not trusted"
expect_eq "rx1's TLS identity in the sender's summary" \
  "$(json "$WORK/tx.json" '.receivers[]? | select(.name == "rx1") | .tls_identity')" rx1
expect_eq "receivers admitted" "$(json "$WORK/tx.json" '.receivers | length')" 1
expect_eq "rx1 dropped no frame as unauthenticated" "$(json "$WORK/rx1.json" .frames_unauthenticated)" 0
e2e_finish
