#!/usr/bin/env bash
# e2e: a symbol size whose data frames do not fit the interface MTU is refused at start, by `send`
# and by `shoal probe`, with the arithmetic and the largest size that fits (issue #15 item 8). A
# data frame is a 32-byte header + symbol + 16-byte tag, plus 28 bytes of IPv4 and UDP headers:
# on a 1500 MTU the largest symbol is 1408, on a 9000 MTU 8896 (8960 makes 9036-byte packets).
# Without --symbol-size, a sender on a smaller MTU takes the largest symbol that fits.
source "$(dirname "$0")/lib.sh"
e2e_init jmb "$@"
need_root_netns

bed_up 1
make_key "$WORK/key"
make_object "$WORK/object.bin" 1

# try_send NAME SYMBOL_SIZE: a sender nobody joins; it ends by itself within a few seconds.
try_send() {
  run_bg "$1" tx 30 "$SHOAL" send "$WORK/object.bin" --group "$BED_GROUP:$BED_PORT" --iface v0 \
    --listen "$BED_LISTEN" --min-receivers 1 --max-wait 1s --key-file "$WORK/key" --no-progress \
    --symbol-size "$2"
}

log "case: 1472-byte symbols on the bed's 1500 MTU"
try_send mtu1500 1472
expect_rc mtu1500 2
expect_log mtu1500 "does not fit the 1500-byte MTU" "names the MTU"
expect_log mtu1500 "1520 bytes of UDP payload, 1548 bytes with the IPv4 and UDP headers" "does the arithmetic"
expect_log mtu1500 "use --symbol-size 1408 or less" "names the largest size that fits"

ip -n "$BED-tx" link set v0 mtu 9000 || fail "cannot raise the sender's MTU"
log "case: 8960-byte symbols on a 9000 MTU (what the docs used to promise)"
try_send mtu9000 8960
expect_rc mtu9000 2
expect_log mtu9000 "9008 bytes of UDP payload, 9036 bytes" "does the arithmetic"
expect_log mtu9000 "use --symbol-size 8896 or less" "names the largest size that fits"

log "case: 8896-byte symbols on a 9000 MTU start (and end when nobody joins)"
try_send fits 8896
expect_rc fits 1
expect "8896 is not refused for its size" bash -c "! grep -q 'does not fit' '$WORK/fits.log'"

log "case: shoal probe refuses the same size before measuring"
run_bg probe tx 30 "$SHOAL" probe --group "$BED_GROUP:$BED_PORT" --iface v0 --listen "$BED_LISTEN" \
  --key-file "$WORK/key" --min-receivers 1 --max-wait 1s --symbol-size 8960
expect_rc probe 2
expect_log probe "use --symbol-size 8896 or less" "names the largest size that fits"

ip -n "$BED-tx" link set v0 mtu 1400 || fail "cannot lower the sender's MTU"
log "case: no --symbol-size on a 1400 MTU: the sender takes the largest that fits, and delivers"
mkdir -p "$WORK/rx1"
bed_receiver rx1 1 "$WORK/rx1/object.bin"
bed_sender auto 1 "$WORK/object.bin" 100M
expect_rc auto 0
expect_log auto "symbol size 1280 B: data frames of 1408 B would exceed the 1400-byte MTU" \
  "says which size it took and why"
expect_rc rx1 0
expect_same_sha "$WORK/object.bin" "$WORK/rx1/object.bin"
e2e_finish
