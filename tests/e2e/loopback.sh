#!/usr/bin/env bash
# e2e 7: one sender and two receivers on this host, no namespaces and no root: the control plane on
# 127.0.0.1, the data by multicast with TTL 0 and IP_MULTICAST_LOOP (--ttl 0 --loopback), so not one
# datagram leaves the host. Both copies must verify; sender and receivers exit 0.
# Ports are picked free at run time and the group is derived from this shell's PID, so this test can
# run next to the other loopback tests (ctest -j).
source "$(dirname "$0")/lib.sh"
e2e_init loop "$@"
need_cmd timeout sha256sum ss ip

GROUP=239.255.$((($$ >> 8) % 256)).$(($$ % 256))
ip route get "$GROUP" >/dev/null 2>&1 ||
  skip "no route for multicast ($GROUP) on this host, so the sender has no interface to loop data back on"
LISTEN_PORT=$(free_port) && GROUP_PORT=$(free_port) || skip "no free port found"
make_object "$WORK/object.bin" 32
make_key "$WORK/key"
log "group $GROUP:$GROUP_PORT, control 127.0.0.1:$LISTEN_PORT"

for k in 1 2; do
  mkdir -p "$WORK/rx$k"
  run_bg "rx$k" - 120 "$SHOAL" recv --sender "127.0.0.1:$LISTEN_PORT" --key-file "$WORK/key" \
    --out "$WORK/rx$k/object.bin" --name "rx$k"
done
run_bg tx - 150 "$SHOAL" send "$WORK/object.bin" --group "$GROUP:$GROUP_PORT" --ttl 0 --loopback \
  --listen "127.0.0.1:$LISTEN_PORT" --rate 300M --min-receivers 2 --max-wait 60s --key-file "$WORK/key" \
  --no-progress

expect_rc tx 0
expect_log tx "2 of 2 receivers verified" "2 of 2 receivers verified"
for k in 1 2; do
  expect_rc "rx$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/rx$k/object.bin"
  expect_no_temp "$WORK/rx$k"
done
e2e_finish
