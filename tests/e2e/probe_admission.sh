#!/usr/bin/env bash
# e2e: `shoal probe` admits receivers as `shoal send` does (control/admission.h). Bed of 3, no cap:
#   - --allow 198.18.0.101,198.18.0.103: rx2 (198.18.0.102), a real receiver with the key, is turned
#     away at connect, and says so;
#   - from rx3's namespace (allowed), a flood of idle, slow-loris and oversized joins
#     (join_flood.py) while the probe waits: each is closed (--handshake-timeout 2s, join message cap);
#   - rx1 then joins and the probe runs with it alone and exits 0.
source "$(dirname "$0")/lib.sh"
e2e_init pra "$@"
need_root_netns
need_cmd jq python3

bed_up 3
make_key "$WORK/key"
run_bg probe tx 100 "$SHOAL" probe --group "$BED_GROUP:$BED_PORT" --iface v0 --listen "$BED_LISTEN" \
  --key-file "$WORK/key" --min-receivers 1 --max-wait 40s --to 100M --dwell 200ms \
  --allow 198.18.0.101,198.18.0.103 --handshake-timeout 2s --json "$WORK/probe.json"
wait_log probe "waiting for" 20 || fail "the probe did not start listening"
bed_receiver rx2 2 "$WORK/rx2-out.bin" --connect-timeout 3s
expect_rc_failed rx2
run_bg flood rx3 60 python3 "$(dirname "$0")/join_flood.py" --sender "$BED_LISTEN" --seconds 5
expect_rc flood 0
bed_receiver rx1 1 "$WORK/rx1-out.bin"
expect_rc rx1 0
expect_rc probe 0
cat "$WORK/flood.log"
expect_log flood "closed by the sender: 200/200 idle, 20/20 slow, 20/20 big" "every hostile connection was closed"
expect_log probe "refused 198\.18\.0\.102.*not in --allow" "the probe logs the refused address"
expect_log probe "no complete join within 2s" "the probe logs join timeouts"
expect_eq "receivers in the probe's result" "$(json "$WORK/probe.json" '[.receivers[].name] | join(",")')" rx1
expect_no_file "$WORK/rx2-out.bin"
e2e_finish
