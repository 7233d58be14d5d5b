#!/usr/bin/env bash
# e2e: what `shoal probe` reports besides the rate. Bed of 2 receivers, no cap, two faults:
#   - the bridge never forwards the group to receiver 2's port (an nftables drop of the group's
#     datagrams toward prx2: what a snooping switch without a querier does), unicast still passes;
#   - the sender's veth has MTU 9000 while the bridge port behind it keeps 1500, so jumbo datagrams
#     are dropped on the way and 1400-byte ones pass.
# Checks: receiver 2 is reported as not hearing the group, with unicast reaching it and a hint naming
# the querier; the MTU check reports jumbo datagrams dropped for receiver 1; receiver 1 alone decides
# the search, so the probe still recommends a rate and exits 0; both receivers exit 0.
source "$(dirname "$0")/lib.sh"
e2e_init prd "$@"
need_root_netns
need_cmd jq

N=2
bed_up $N
make_key "$WORK/key"
ip -n "$BED-tx" link set v0 mtu 9000 || fail "cannot raise the sender's MTU"
ip netns exec "$BED-br" nft add rule bridge shoal loss oifname prx2 ip daddr "$BED_GROUP" counter drop ||
  fail "cannot block the group toward receiver 2"

for k in $(seq 1 $N); do bed_receiver "rx$k" "$k" "$WORK/rx$k-out.bin"; done
run_bg probe tx 100 "$SHOAL" probe --group "$BED_GROUP:$BED_PORT" --iface v0 --listen "$BED_LISTEN" \
  --key-file "$WORK/key" --min-receivers $N --max-wait 30s --to 400M --dwell 500ms \
  --json "$WORK/probe.json"

expect_rc probe 0
for k in $(seq 1 $N); do
  expect_rc "rx$k" 0
  expect_no_file "$WORK/rx$k-out.bin"
done
expect_log rx2 "no multicast from the sender" "receiver 2 says it hears no multicast"
rx() { json "$WORK/probe.json" ".receivers[] | select(.name == \"$1\") | $2"; }
expect_eq "rx1 heard the group" "$(rx rx1 .heard)" true
expect_eq "rx2 heard the group" "$(rx rx2 .heard)" false
expect_log probe "rx2 .*unicast reaches it" "the table says unicast reaches rx2"
expect "rx2 hints name the IGMP querier" grep -q querier <<<"$(rx rx2 '.hints[]')"
expect "rx1 MTU verdict: jumbo datagrams dropped" grep -q "8972-byte datagrams dropped" <<<"$(rx rx1 .mtu)"
expect "a rate is still recommended (from rx1)" test "$(json "$WORK/probe.json" .result.recommended_bps)" -gt 0
e2e_finish
