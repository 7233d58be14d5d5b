#!/usr/bin/env bash
# e2e: `shoal send --metrics` and `shoal recvd --metrics` serve Prometheus text. The receiver is a
# daemon that joins the announced session. Two scrapes of the sender during the data pass: the frame
# counter grows between them, the receiver is listed with done 0, and every sample line parses as
# `name{labels} value`. After the session, the daemon counts one started and one verified session,
# the bytes it received and the time of that success (#17 item 5). Its --status file says the same,
# its --events stream has the session's start and end, and on SIGTERM it writes --json and exits 0.
source "$(dirname "$0")/lib.sh"
e2e_init metrics "$@"
need_root_netns
need_cmd python3 jq

bed_up 1
make_object "$WORK/object.bin" 48   # ~13 s at 30 Mbit/s: both scrapes fall inside the pass
make_key "$WORK/key"
mkdir -p "$WORK/rx1"
run_bg d1 rx1 120 "$SHOAL" recvd --iface v0 --key-file "$WORK/key" --map "object.bin=$WORK/rx1/" \
  --name rx1 --metrics 127.0.0.1:9103 --status "$WORK/d1-status.json" --events "$WORK/d1-events.jsonl" \
  --json "$WORK/d1-final.json"
wait_log d1 "waiting for session announcements" 20 || fail "recvd did not start listening"
bed_sender tx 1 "$WORK/object.bin" 30M --metrics 127.0.0.1:9102 --announce
scrape() {   # NAME [NODE PORT]
  ip netns exec "$BED-${2:-tx}" python3 -c '
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode(), end="")' \
    "${3:-9102}" >"$WORK/$1.txt" 2>"$WORK/$1.err"
}
value() { awk -v n="$2" '$1 == n {print $2}' "$WORK/$1.txt"; }
# The first scrape once frames flow, the second once more were sent: no fixed sleeps, so a slow host
# only shifts them within the pass. Each retries for up to 10 s.
scrape_until() {   # NAME MIN_FRAMES
  for _ in $(seq 1 100); do
    if scrape "$1" && [ "$(value "$1" shoal_sender_frames_sent_total)" -gt "$2" ] 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
scrape_until s1 0 || fail "no scrape showed frames sent: $(cat "$WORK/s1.err")"
scrape_until s2 "$(value s1 shoal_sender_frames_sent_total)" || fail "no later scrape showed more frames: $(cat "$WORK/s2.err")"
expect_rc tx 0
expect_same_sha "$WORK/object.bin" "$WORK/rx1/object.bin"
for _ in $(seq 1 50); do   # the daemon counts the session once its child has exited
  scrape d1 rx1 9103 && grep -q 'outcome="verified"} 1' "$WORK/d1.txt" && break
  sleep 0.2
done
expect "recvd counts the verified session" grep -qx 'shoal_recvd_events_total{event="session",outcome="verified"} 1' "$WORK/d1.txt"
expect "recvd counts the started session" grep -qx 'shoal_recvd_events_total{event="session",outcome="started"} 1' "$WORK/d1.txt"
expect "recvd runs no session now" grep -qx 'shoal_recvd_sessions_running 0' "$WORK/d1.txt"
expect "recvd counts the bytes it received" grep -qx "shoal_recvd_received_bytes_total $((48 << 20))" "$WORK/d1.txt"
last_ok=$(value d1 shoal_recvd_last_success_timestamp_seconds)
now=$(date +%s)
expect "recvd says when it last succeeded ($last_ok, now $now)" \
  test "${last_ok:-0}" -gt $((now - 300)) -a "${last_ok:-0}" -le "$now"
sha=$(sha256sum "$WORK/object.bin" | cut -d' ' -f1)
expect_eq "status file: sessions verified" "$(json "$WORK/d1-status.json" .totals.sessions.verified)" 1
expect_eq "status file: last success's sha256" "$(json "$WORK/d1-status.json" .last_success.sha256)" "$sha"
expect_eq "status file: sessions running" "$(jq '.running | length' "$WORK/d1-status.json")" 0
expect_eq "events: the session's start and end" \
  "$(jq -r 'select(.event | startswith("session_")) | .event + ":" + (.outcome // "")' "$WORK/d1-events.jsonl" | paste -sd,)" \
  "session_start:,session_end:verified"
pid=$(cmd_pid d1) && kill -TERM "$pid"
expect_rc d1 0
expect_eq "--json at exit: state" "$(json "$WORK/d1-final.json" .state)" stopping
expect_eq "--json at exit: bytes received" "$(json "$WORK/d1-final.json" .totals.bytes_received)" $((48 << 20))
f1=$(value s1 shoal_sender_frames_sent_total)
f2=$(value s2 shoal_sender_frames_sent_total)
log "frames sent at the two scrapes: $f1, $f2"
expect "the frame counter grows during the pass ($f1 -> $f2)" test "${f1:-0}" -lt "${f2:-0}"
expect "rx1 is listed, not done yet" grep -q '^shoal_sender_receiver_done{address="198.18.0.101:[0-9]*",name="rx1",path="multicast"} 0$' "$WORK/s1.txt"
expect "the object size is exported" grep -qx "shoal_sender_object_bytes $((48 << 20))" "$WORK/s1.txt"
bad=$(grep -v '^#' "$WORK/s2.txt" | grep -cvE '^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$' || true)
expect_eq "sample lines that do not parse" "$bad" 0
e2e_finish
