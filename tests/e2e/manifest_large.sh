#!/usr/bin/env bash
# e2e (issue #14): a manifest beyond what one burst could carry. 64-byte symbols, k = 1: a 36 MiB
# object is 589,824 blocks, 18 MiB of block hashes -- past the 16 MiB a connection may queue, where
# the old all-at-start manifest dropped every receiver. Now the hashes stream while data flows,
# paced by each connection. Loopback only (TTL 0, IP_MULTICAST_LOOP), no root. Checks: both
# receivers verify the object and exit 0; the sender's and the receivers' JSON give the object's
# plain SHA-256 (the sender hashes while it sends); each receiver wrote every byte once.
source "$(dirname "$0")/lib.sh"
e2e_init mfl "$@"
need_cmd timeout sha256sum ss ip jq

loopback_session
make_object "$WORK/object.bin" 36
make_key "$WORK/key"
BLOCKS=$(((36 << 20) / 64))
log "$BLOCKS blocks: $((BLOCKS * 32)) bytes of block hashes (the old per-connection queue: $((16 << 20)))"

for k in 1 2; do
  mkdir -p "$WORK/rx$k"
  run_bg "rx$k" - 150 "$SHOAL" recv --sender "127.0.0.1:$LISTEN_PORT" --key-file "$WORK/key" \
    --out "$WORK/rx$k/object.bin" --name "rx$k" --json "$WORK/rx$k.json"
done
run_bg tx - 180 "$SHOAL" send "$WORK/object.bin" --group "$GROUP:$GROUP_PORT" --ttl 0 --loopback \
  --listen "127.0.0.1:$LISTEN_PORT" --rate 400M --fec 1+0 --symbol-size 64 --min-receivers 2 \
  --max-wait 60s --key-file "$WORK/key" --no-progress --json "$WORK/tx.json"

want=$(sha_of "$WORK/object.bin")
expect_rc tx 0
expect_log tx "$BLOCKS blocks of 1x64 B" "the sender laid out $BLOCKS blocks"
expect_eq "receivers verified (sender JSON)" "$(json "$WORK/tx.json" .ok)" 2
expect_eq "the sender's SHA-256 of the object" "$(json "$WORK/tx.json" .sha256)" "$want"
for k in 1 2; do
  expect_rc "rx$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/rx$k/object.bin"
  expect_no_temp "$WORK/rx$k"
  expect_eq "rx$k JSON sha256" "$(json "$WORK/rx$k.json" .sha256)" "$want"
  expect_eq "rx$k wrote each byte once" "$(json "$WORK/rx$k.json" .bytes_written)" $((36 << 20))
done
e2e_finish
