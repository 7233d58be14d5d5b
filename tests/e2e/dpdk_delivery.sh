#!/usr/bin/env bash
# e2e: a DPDK sender (net_af_packet on the sender's veth, --no-huge) delivers to kernel-socket receivers
# on the namespace test bed, with 1% loss: every copy verified. A DPDK receiver gets a verified copy from
# a kernel-socket sender. The DPDK sender sends source symbols by reference (zero copy). Also checks the automatic choice: with
# EAL arguments that name no usable port, --transport auto falls back to kernel sockets and says why.
source "$(dirname "$0")/lib.sh"
e2e_init dpk "$@"
need_root_netns
need_cmd jq
if ! "$SHOAL" --version | grep -q "DPDK transport: yes"; then skip "this shoal was built without DPDK"; fi

N=2
EAL="-l 0 --no-huge -m 512 --no-pci --no-shconf --log-level=error --vdev=net_af_packet0,iface=v0"
bed_up $N
make_object "$WORK/object.bin" 16
make_key "$WORK/key"
"$TESTBED" loss "$BED" all 10 || fail "cannot set loss"

for k in $(seq 1 $N); do
  mkdir -p "$WORK/d-rx$k"
  bed_receiver "d-rx$k" "$k" "$WORK/d-rx$k/object.bin"
done
bed_sender d-tx $N "$WORK/object.bin" 300M --transport dpdk --dpdk "$EAL"
expect_rc d-tx 0
expect_log d-tx "data plane: DPDK poll mode on port net_af_packet0" "says it runs DPDK"
# af_packet chains mbufs: source symbols leave the mapped object by reference (issue #16 item 4),
# and the copies verified above prove those frames carried the right bytes.
expect_log d-tx "source symbols by reference .zero copy." "sends source symbols without a copy"
for k in $(seq 1 $N); do
  expect_rc "d-rx$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/d-rx$k/object.bin"
done
expect_eq "sender JSON ok" "$(json "$WORK/d-tx.json" .ok)" $N

# A DPDK receiver (af_packet on its veth, poll mode) next to a kernel one, kernel-socket sender.
EAL_RX="-l 0 --no-huge -m 512 --no-pci --no-shconf --log-level=error --vdev=net_af_packet0,iface=v0"
mkdir -p "$WORK/r-rx1" "$WORK/r-rx2"
bed_receiver r-rx1 1 "$WORK/r-rx1/object.bin" --transport dpdk --dpdk "$EAL_RX"
bed_receiver r-rx2 2 "$WORK/r-rx2/object.bin"
bed_sender r-tx $N "$WORK/object.bin" 200M --transport socket
expect_rc r-tx 0
expect_log r-rx1 "data plane: DPDK poll mode on port net_af_packet0" "the receiver says it runs DPDK"
for k in 1 2; do
  expect_rc "r-rx$k" 0
  expect_same_sha "$WORK/object.bin" "$WORK/r-rx$k/object.bin"
done

# auto with an unusable DPDK port (no such interface for af_packet) falls back to sockets, saying why.
for k in $(seq 1 $N); do
  mkdir -p "$WORK/a-rx$k"
  bed_receiver "a-rx$k" "$k" "$WORK/a-rx$k/object.bin"
done
bed_sender a-tx $N "$WORK/object.bin" 300M --transport auto \
  --dpdk "-l 0 --no-huge -m 512 --no-pci --no-shconf --log-level=error --vdev=net_af_packet1,iface=nosuch9"
expect_rc a-tx 0
expect_log a-tx "kernel sockets \(auto: DPDK not usable" "names the fallback and its reason"
for k in $(seq 1 $N); do
  expect_same_sha "$WORK/object.bin" "$WORK/a-rx$k/object.bin"
done
e2e_finish
