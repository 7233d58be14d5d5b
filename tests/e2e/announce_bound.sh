#!/usr/bin/env bash
# e2e (issue #15 item 1): an announcement is bound to the session joined. Sender and receiver run
# --insecure, so unsigned announcements are accepted (as with TLS alone). A forger on the announce
# network hears the genuine announcement of image-a.bin and announces the same session id and sender
# as boot-disk.img. rx1 waits for --object 'boot-*' (its "system disk" role): it joins the genuine
# sender on the forged announcement, sees a Session of image-a.bin, refuses it (exit 1, saying
# which name was announced and which is sent) and writes nothing.
source "$(dirname "$0")/lib.sh"
e2e_init anb "$@"
need_root_netns
need_cmd python3

bed_up 2
make_object "$WORK/image-a.bin" 4
mkdir -p "$WORK/rx1"

run_bg r1 rx1 60 "$SHOAL" recv --announce --insecure --object 'boot-*' --connect-timeout 30s \
  --iface v0 --out "$WORK/rx1/boot.img" --name rx1 --no-progress
wait_log r1 "waiting for a session announcement" 20 || fail "rx1 did not start listening"
run_bg forger rx2 60 python3 "$(dirname "$0")/forge_announcement.py" --iface v0 --name boot-disk.img
run_bg tx tx 60 "$SHOAL" send "$WORK/image-a.bin" --group "$BED_GROUP:$BED_PORT" --iface v0 \
  --listen "$BED_LISTEN" --insecure --announce --min-receivers 1 --max-wait 30s --no-progress

expect_rc r1 1
expect_log r1 "joining session [0-9a-f]{16} 'boot-disk.img'" "rx1 joined on the forged announcement"
expect_log r1 "describes 'image-a.bin' \([0-9]+ bytes\), but its announcement named 'boot-disk.img'" \
  "rx1 refused the session of another object"
expect_eq "files rx1 wrote" "$(find "$WORK/rx1" -mindepth 1 | wc -l)" 0
expect_log forger "announcing it as 'boot-disk.img'" "the forger heard the genuine announcement"
expect_rc_failed tx
e2e_finish
