#!/usr/bin/env bash
# e2e 8: `shoal demo --size 32M` (namespace test bed as root, loopback multicast otherwise) exits 0 and
# reports every one of its 4 copies verified.
source "$(dirname "$0")/lib.sh"
e2e_init demo "$@"
need_cmd timeout

run_bg demo - 240 env SHOAL_TESTBED="$TESTBED" "$SHOAL" demo --size 32M
expect_rc demo 0
expect_log demo "4 of 4 copies verified" "4 of 4 copies verified"
grep -E "copies verified|rx[0-9]:" "$WORK/demo.log"
e2e_finish
