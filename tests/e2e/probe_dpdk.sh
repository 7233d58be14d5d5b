#!/usr/bin/env bash
# e2e: `shoal probe` over DPDK, under an emulated switch cap. The sender probes through a DPDK
# poll-mode port (net_af_packet on its veth, --no-huge); receiver 1 uses a kernel socket, receiver 2 a
# DPDK port of its own (polled from a timer). The cap is a 120 Mbit/s tbf on each receiver's bridge
# port (`testbed.sh portcap`, queue = burst), not `testbed.sh cap` on the sender's veth: an af_packet
# ring is charged for the skbs the veth's tbf holds, so the qdisc pushed back on the DPDK sender (it
# offered ~202 Mbit/s whatever the target) and a busy host made a step at the cap look
# sender-short twice. A switch never pushes back on a multicast sender. Checks: the probe says it runs DPDK, both
# receivers hear the group and answer every search step, the highest passing rate is within 10% of
# the cap and the network is named as the limit, a rate is recommended, everyone exits 0.
source "$(dirname "$0")/lib.sh"
e2e_init prk "$@"
need_root_netns
need_cmd jq
if ! "$SHOAL" --version | grep -q "DPDK transport: yes"; then skip "this shoal was built without DPDK"; fi

N=2
CAP=120
EAL="-l 0 --no-huge -m 512 --no-pci --no-shconf --log-level=error --vdev=net_af_packet0,iface=v0"
EAL_RX="-l 1 --no-huge -m 512 --no-pci --no-shconf --log-level=error --vdev=net_af_packet0,iface=v0"
bed_up $N
make_key "$WORK/key"
for k in $(seq 1 $N); do
  "$TESTBED" portcap "$BED" "$k" "${CAP}mbit" 131072 131072 || fail "cannot cap receiver $k's port"
done
bed_receiver rx1 1 "$WORK/rx1-out.bin"
bed_receiver rx2 2 "$WORK/rx2-out.bin" --transport dpdk --dpdk "$EAL_RX"
run_bg probe tx 100 "$SHOAL" probe --group "$BED_GROUP:$BED_PORT" --iface v0 --listen "$BED_LISTEN" \
  --key-file "$WORK/key" --min-receivers $N --max-wait 30s --no-mtu \
  --transport dpdk --dpdk "$EAL" --json "$WORK/probe.json"

expect_rc probe 0
expect_rc rx1 0
expect_rc rx2 0
expect_log probe "DPDK poll mode on port net_af_packet0" "the probe sends through DPDK"
expect_log rx2 "joined .* \(DPDK poll mode" "receiver 2 probes through DPDK"
expect_eq "receivers that heard the group" "$(json "$WORK/probe.json" '[.receivers[] | select(.heard)] | length')" $N
expect "every search step has a report from each receiver" \
  test "$(json "$WORK/probe.json" "[.steps[] | select(.kind == \"search\") | .receivers | length] | min")" -eq $N
max_ok=$(json "$WORK/probe.json" .result.max_ok_bps)
log "probe found ${max_ok:-?} bit/s for a cap of ${CAP}e6: $(json "$WORK/probe.json" .result.verdict)"
expect "found rate ${max_ok:-none} within 10% of the ${CAP} Mbit/s cap" \
  awk -v got="${max_ok:-0}" -v cap="$((CAP * 1000000))" 'BEGIN { d = got - cap; if (d < 0) d = -d; exit !(got > 0 && d <= 0.10 * cap) }'
expect_eq "the limit is the network's" "$(json "$WORK/probe.json" .result.limited_by)" "network"
expect "a rate is recommended" test "$(json "$WORK/probe.json" .result.recommended_bps)" -gt 0
e2e_finish
