#!/usr/bin/env bash
# e2e (issue #17 item 4): `--syslog` sends the log to syslog as well as stderr. The command runs in a
# private mount namespace whose /dev is a copy with a test socket as /dev/log (the host's /dev and
# syslog are untouched); a listener records what arrives. A sender given a missing object must log
# the error there, with ident shoal, its pid and priority daemon.err (<27>), and exit 2 as usual.
source "$(dirname "$0")/lib.sh"
e2e_init syslog "$@"
[ "$(id -u)" -eq 0 ] || skip "needs root for a private mount namespace (unshare -m)"
need_cmd unshare mount python3

mkdir -p "$WORK/dev"
run_bg listen - 60 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
with open(sys.argv[2], "ab") as f:
    while True:
        f.write(s.recv(65536) + b"\n")
        f.flush()
' "$WORK/dev/log" "$WORK/syslog.txt"
wait_log listen "listening" 20 || fail "the syslog listener did not start"
for n in null zero random urandom; do : >"$WORK/dev/$n"; done
run_bg send - 60 unshare -m bash -c '
  for n in null zero random urandom; do mount --bind "/dev/$n" "$1/dev/$n" || exit 99; done
  mount --bind "$1/dev" /dev || exit 99
  exec "$2" send "$1/no-such-object.bin" --insecure --syslog' _ "$WORK" "$SHOAL"
expect_rc send 2
expect_log send "no-such-object\.bin" "stderr still has the log"
for _ in $(seq 1 50); do
  grep -q "no-such-object" "$WORK/syslog.txt" 2>/dev/null && break
  sleep 0.1
done
log "syslog received: $(cat "$WORK/syslog.txt" 2>/dev/null)"
expect "syslog has the error with ident, pid and priority daemon.err" \
  grep -qE '^<27>.*shoal\[[0-9]+\]: .*no-such-object\.bin' "$WORK/syslog.txt"
e2e_finish
