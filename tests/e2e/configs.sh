#!/usr/bin/env bash
# e2e: the systemd unit and its example drop-in in configs/. (The TOML examples are loaded by the
# unit test tests/cli/config_examples_test.cc.)
#  1. `systemd-analyze verify` accepts the unit with the drop-ins applied (local.conf and
#     boot-entries.conf), and an instance of the sender unit shoal-send@.service, without a single
#     warning (with ExecStart pointing at the binary under test);
#  2. the unit's ExecStart, and the drop-in's, each start a daemon on a test-bed node from
#     configs/recvd.toml (its site-specific paths and interface replaced by the test's): it listens
#     for announcements, and on SIGTERM, as systemd sends it, stops and exits 0.
source "$(dirname "$0")/lib.sh"
e2e_init cfg "$@"
need_root_netns
need_cmd systemd-analyze

UNIT=$SRC/configs/shoal-recvd.service
DROPIN=$SRC/configs/shoal-recvd.service.d/local.conf

mkdir -p "$WORK/unit/shoal-recvd.service.d"
abs=$(readlink -f "$SHOAL")   # systemd wants an absolute path
sed "s|/usr/bin/shoal|$abs|g" "$UNIT" >"$WORK/unit/shoal-recvd.service"
sed "s|/usr/bin/shoal|$abs|g" "$DROPIN" >"$WORK/unit/shoal-recvd.service.d/local.conf"
cp "$SRC/configs/shoal-recvd.service.d/boot-entries.conf" "$WORK/unit/shoal-recvd.service.d/"
sed "s|/usr/bin/shoal|$abs|g" "$SRC/configs/shoal-send@.service" >"$WORK/unit/shoal-send@.service"
out=$(systemd-analyze verify --man=no "$WORK/unit/shoal-recvd.service" 2>&1)
rc=$?
expect_eq "systemd-analyze verify exit status" "$rc" 0
expect_eq "systemd-analyze verify output" "$out" ""
out=$(cd "$WORK/unit" && systemd-analyze verify --man=no "$WORK/unit/shoal-send@node-root.service" 2>&1)
rc=$?
expect_eq "systemd-analyze verify shoal-send@node-root.service exit status" "$rc" 0
expect_eq "systemd-analyze verify shoal-send@node-root.service output" "$out" ""
# The drop-in is really read: a broken copy of it must be reported.
sed -i 's/^TimeoutStopSec=.*/TimeoutStopSec=not-a-time/' "$WORK/unit/shoal-recvd.service.d/local.conf"
out=$(systemd-analyze verify --man=no "$WORK/unit/shoal-recvd.service" 2>&1)
expect "verify reads the drop-in (reports its broken copy)" grep -q "local.conf" <<<"$out"

# The example daemon config with this machine's paths: key, destination directory, hook.
bed_up 1
make_key "$WORK/key"
mkdir -p "$WORK/images"
printf '#!/bin/sh\nexit 0\n' >"$WORK/hook"
chmod 755 "$WORK/hook"
sed -e "s|/etc/shoal/shoal.key|$WORK/key|" -e "s|=/var/lib/images/|=$WORK/images/|" \
  -e "s|=/dev/vdb|=$WORK/images/node-root.img|" -e "s|/usr/local/lib/shoal/after-receive|$WORK/hook|" \
  -e 's|^iface = "eth0"|iface = "v0"|' "$SRC/configs/recvd.toml" >"$WORK/recvd.toml"

n=0
for file in "$UNIT" "$DROPIN"; do
  line=$(grep -E '^ExecStart=.+' "$file" | tail -n1 | sed 's/^ExecStart=//')
  [ -n "$line" ] || { fail "no ExecStart command in $file"; continue; }
  n=$((n + 1))
  # shellcheck disable=SC2206  # the unit's command line, split like systemd splits it (no quoting in it)
  words=($line)
  [ "${words[0]}" = /usr/bin/shoal ] || fail "$(basename "$file"): ExecStart runs ${words[0]}, not /usr/bin/shoal"
  args=()
  for ((i = 1; i < ${#words[@]}; i++)); do
    w=${words[$i]}
    [ "$w" = /etc/shoal/recvd.toml ] && w=$WORK/recvd.toml
    [ "${words[$((i - 1))]}" = --iface ] && w=v0   # this machine's interface name
    args+=("$w")
  done
  name=daemon$n
  run_bg "$name" rx1 60 "$SHOAL" "${args[@]}"
  if wait_log "$name" "waiting for session announcements" 20; then
    pass "$(basename "$file"): ExecStart starts the daemon"
  else
    fail "$(basename "$file"): ExecStart did not start the daemon"
  fi
  kill -TERM "$(cmd_pid "$name")"
  expect_rc "$name" 0
  expect_log "$name" "stopped"
done
e2e_finish
