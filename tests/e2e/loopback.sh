#!/usr/bin/env bash
# e2e 7: one sender and two receivers on this host, no namespaces and no root: the control plane on
# 127.0.0.1, the data by multicast with TTL 0 and IP_MULTICAST_LOOP (--ttl 0 --loopback), so not one
# datagram leaves the host. Both copies must verify; sender and receivers exit 0.
# Three sessions: the second takes its manifest from the cache, the third (file changed) does not.
# Ports are picked free at run time and the group is derived from this shell's PID, so this test can
# run next to the other loopback tests (ctest -j).
source "$(dirname "$0")/lib.sh"
e2e_init loop "$@"
need_cmd timeout sha256sum ss ip

loopback_session
make_object "$WORK/object.bin" 32
make_key "$WORK/key"
log "group $GROUP:$GROUP_PORT, control 127.0.0.1:$LISTEN_PORT"

# round NAME [send options]: one session; both copies must verify.
round() {
  local name=$1 k
  shift
  for k in 1 2; do
    mkdir -p "$WORK/$name-rx$k"
    run_bg "$name-rx$k" - 120 "$SHOAL" recv --sender "127.0.0.1:$LISTEN_PORT" --key-file "$WORK/key" \
      --out "$WORK/$name-rx$k/object.bin" --name "rx$k"
  done
  run_bg "$name-tx" - 150 "$SHOAL" send "$WORK/object.bin" --group "$GROUP:$GROUP_PORT" --ttl 0 --loopback \
    --listen "127.0.0.1:$LISTEN_PORT" --rate 300M --min-receivers 2 --max-wait 60s --key-file "$WORK/key" \
    --no-progress "$@"

  expect_rc "$name-tx" 0
  expect_log "$name-tx" "2 of 2 receivers verified" "$name: 2 of 2 receivers verified"
  for k in 1 2; do
    expect_rc "$name-rx$k" 0
    expect_same_sha "$WORK/object.bin" "$WORK/$name-rx$k/object.bin"
    expect_no_temp "$WORK/$name-rx$k"
  done
}

# The manifest cache (object/manifest_cache.h): the first send hashes the object, the second
# takes its hashes from the cache, and after the file changed (same size, same mtime given back)
# the third hashes it again -- its copies still verify, so no stale hash was used.
round first
expect "first send hashed the object (no cache line)" bash -c "! grep -q 'from the cache' '$WORK/first-tx.log'"
round again -v --log "$WORK/again-file.log"  # -v and --log after the subcommand, as people type them
expect_log again-tx "from the cache" "second send took the manifest from the cache"
expect_log again-tx "debug pass 0:" "send ... -v logs at debug level"
expect "--log FILE has the log, each line dated" \
  grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} info receiver rx1 joined' \
  "$WORK/again-file.log"
mtime=$(stat -c %y "$WORK/object.bin")
make_object "$WORK/object.bin" 32
touch -d "$mtime" "$WORK/object.bin"
round changed
expect "changed file hashed again (no cache line)" bash -c "! grep -q 'from the cache' '$WORK/changed-tx.log'"
e2e_finish
