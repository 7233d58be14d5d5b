#!/usr/bin/env bash
# e2e (loopback, no root): a receiver facing a broken or hostile sender (hostile_sender.py) fails with a
# clear reason, at once and without allocating for what the sender claims, and leaves no file:
#   impossible  a Session claiming 2^32-1 blocks for a 1 MiB object;
#   grant       a KeyGrant before any Session.
source "$(dirname "$0")/lib.sh"
e2e_init hostile "$@"
need_cmd python3

for case in impossible grant; do
  python3 "$(dirname "$0")/hostile_sender.py" $case >"$WORK/$case-port" 2>"$WORK/$case-sender.log" &
  E2E_PIDS+=("$!")
  for _ in $(seq 1 50); do [ -s "$WORK/$case-port" ] && break; sleep 0.1; done
  port=$(head -n1 "$WORK/$case-port")
  [ -n "$port" ] || fail "$case: the fake sender did not start"
  run_bg "rx-$case" - 30 "$SHOAL" recv --sender "127.0.0.1:$port" --insecure --out "$WORK/$case.bin" \
    --connect-timeout 5s
  expect_rc "rx-$case" 1
  expect_no_file "$WORK/$case.bin"
done
expect_log rx-impossible "impossible session \(4294967295 blocks for 1048576 bytes" "the impossible layout is named"
expect_log rx-grant "session key out of order" "a KeyGrant before the Session is refused"
e2e_finish
