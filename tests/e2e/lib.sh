# Shared helpers for the shoal end-to-end tests (sourced, not run). Each test script is called as
#   bash TEST.sh SHOAL_BINARY SOURCE_DIR
# and exits 0 (pass), 1 (fail) or 77 (skipped, with a loud "SKIP: reason").
#
# What this gives a test:
#   e2e_init TAG "$@"         work dir $WORK, $SHOAL, $SRC, cleanup on EXIT (processes, test bed, files)
#   need_root_netns / need_cmd  skip (77) when the machine cannot run the test
#   bed_up N                  a private namespace test bed $BED (scripts/testbed.sh) torn down on exit
#   run_bg NAME NODE SECS cmd...   start cmd (bounded by `timeout`) in bed node NODE (tx, rx1..) or on
#                             the host (NODE "-"); output in $WORK/NAME.log; waited with wait_rc NAME
#   expect / expect_rc / expect_log / expect_same_sha / expect_no_file ...: record a failure and go on,
#                             so one run reports everything that is wrong; e2e_finish sets the exit code.
# Nothing here depends on timing for a verdict: waits are bounded, outcomes are exit codes, hashes,
# files and messages.

set -u -o pipefail

E2E_FAILS=0
E2E_PIDS=()
declare -A E2E_PID=()
declare -A E2E_RC=()
BED=""
WORK=""

log() { echo "[e2e $(date +%T)] $*"; }

skip() {
  echo "SKIP: $*"
  echo "SKIP: $*" >&2
  exit 77
}

fail() {
  echo "FAIL: $*"
  E2E_FAILS=$((E2E_FAILS + 1))
}

pass() { echo "ok: $*"; }

# e2e_init TAG SHOAL SRC: TAG is a short [a-z] word naming the test (used in the bed's name).
e2e_init() {
  local tag=$1
  SHOAL=${2:-}
  SRC=${3:-}
  [ -n "$SHOAL" ] && [ -x "$SHOAL" ] || { echo "usage: $0 SHOAL_BINARY SOURCE_DIR (got '$SHOAL')" >&2; exit 2; }
  [ -n "$SRC" ] && [ -f "$SRC/scripts/testbed.sh" ] || { echo "$0: no scripts/testbed.sh under '$SRC'" >&2; exit 2; }
  TESTBED=$SRC/scripts/testbed.sh
  E2E_TAG=$tag
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-e2e-$tag.XXXXXX") || { echo "cannot create a temp dir" >&2; exit 2; }
  chmod 755 "$WORK"
  export SHOAL_CACHE_DIR=$WORK/cache  # the sender's manifest cache: per test, gone with $WORK
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
  log "$tag: work dir $WORK"
}

need_cmd() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "'$c' is not installed"; done
}

need_root_netns() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces); run as root or use ctest -LE root"
  need_cmd ip nft timeout sha256sum
  ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here (no network namespace support?)"
}

# All descendants of a PID, deepest first (so a wrapper cannot respawn what we already killed).
descendants() {
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do
    descendants "$c"
    echo "$c"
  done
}

kill_tree() {   # $1=pid $2=signal: the process and everything it started, by PID
  local p
  for p in $(descendants "$1") "$1"; do kill "-$2" "$p" 2>/dev/null || true; done
}

e2e_cleanup() {
  local rc=$? p name
  trap - EXIT
  for p in "${E2E_PIDS[@]}"; do kill_tree "$p" TERM; done
  for p in "${E2E_PIDS[@]}"; do
    for _ in $(seq 1 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill_tree "$p" KILL
    wait "$p" 2>/dev/null || true
  done
  if [ -n "$BED" ]; then "$TESTBED" down "$BED" >/dev/null 2>&1 || echo "e2e: could not remove test bed $BED" >&2; fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$WORK" ]; then
    for f in "$WORK"/*.log; do
      [ -f "$f" ] || continue
      name=$(basename "$f")
      echo "----- $name (last 40 lines, progress lines dropped) -----"
      tr '\r' '\n' <"$f" | grep -v '^ *[0-9.]*%  ' | tail -n 40
    done
  fi
  if [ -n "$WORK" ] && [ -z "${E2E_KEEP:-}" ]; then rm -rf "$WORK"; fi
  [ -n "${E2E_KEEP:-}" ] && echo "e2e: kept $WORK (E2E_KEEP set)"
  exit "$rc"
}

e2e_finish() {
  if [ "$E2E_FAILS" -gt 0 ]; then
    echo "RESULT: $E2E_TAG FAILED ($E2E_FAILS failed check(s))"
    exit 1
  fi
  echo "RESULT: $E2E_TAG passed"
  exit 0
}

# bed_up N: a test bed of N receivers named after the test and this shell's PID (unique per run).
bed_up() {
  BED="e2e${E2E_TAG}$$"
  local out rc
  out=$("$TESTBED" up "$BED" "$1" 2>&1)
  rc=$?
  if [ "$rc" -eq 77 ]; then BED=""; skip "test bed: $out"; fi
  if [ "$rc" -ne 0 ]; then
    echo "$out"
    BED=""
    fail "test bed set-up failed (rc $rc)"
    e2e_finish
  fi
  log "test bed $BED up with $1 receiver(s)"
}

# run_bg NAME NODE SECS cmd...: cmd runs under `timeout` (SIGTERM at SECS, SIGKILL 5 s later), in the
# bed's namespace NODE or on the host for NODE "-". stdout and stderr go to $WORK/NAME.log.
run_bg() {
  local name=$1 node=$2 secs=$3
  shift 3
  if [ "$node" = - ]; then
    timeout -k 5 "$secs" "$@" >"$WORK/$name.log" 2>&1 &
  else
    timeout -k 5 "$secs" ip netns exec "$BED-$node" "$@" >"$WORK/$name.log" 2>&1 &
  fi
  E2E_PID[$name]=$!
  E2E_PIDS+=("$!")
}

# The PID of the command itself (the child of its `timeout` wrapper; `ip netns exec` execs in place).
cmd_pid() {
  local w=${E2E_PID[$1]} c
  for _ in $(seq 1 50); do
    c=$(pgrep -P "$w" | head -n1)
    [ -n "$c" ] && { echo "$c"; return 0; }
    sleep 0.1
  done
  return 1
}

# wait_rc NAME: waits for the process and stores its exit status in E2E_RC[NAME] (124 = timed out).
# Not usable inside $(...): a subshell cannot wait for this shell's children.
wait_rc() {
  local rc=0
  if [ -z "${E2E_RC[$1]:-}" ]; then
    { wait "${E2E_PID[$1]}"; rc=$?; } 2>/dev/null   # no "Killed" job notice: the caller reports rc
    E2E_RC[$1]=$rc
  fi
}

# wait_log NAME EXTENDED_REGEX SECS: true once the log matches; false after SECS or when the process ended
# without it.
wait_log() {
  local name=$1 re=$2 secs=$3
  for _ in $(seq 1 $((secs * 10))); do
    grep -qE -- "$re" "$WORK/$name.log" 2>/dev/null && return 0
    kill -0 "${E2E_PID[$name]}" 2>/dev/null || { grep -qE -- "$re" "$WORK/$name.log" 2>/dev/null; return; }
    sleep 0.1
  done
  return 1
}

# Last percentage a receiver started with --progress printed ("  42.0%  123/456 blocks ..."), integer part.
progress_of() {
  tr '\r' '\n' <"$WORK/$1.log" 2>/dev/null | sed -n 's/^ *\([0-9]*\)\.[0-9]%  [0-9]*\/[0-9]* blocks.*/\1/p' |
    tail -n1
}

# wait_progress NAME PERCENT SECS: true once receiver NAME reports at least PERCENT done.
wait_progress() {
  local name=$1 want=$2 secs=$3 have
  for _ in $(seq 1 $((secs * 10))); do
    have=$(progress_of "$name")
    [ -n "$have" ] && [ "$have" -ge "$want" ] && return 0
    kill -0 "${E2E_PID[$name]}" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

make_object() {   # PATH MIB: random content, so a wrong block cannot pass as a right one by chance
  head -c "$(($2 << 20))" /dev/urandom >"$1"
}

make_key() {   # PATH: a fresh key, mode 0600
  (umask 077 && "$SHOAL" keygen >"$1")
}

sha_of() { sha256sum <"$1" | cut -d' ' -f1; }

json() {   # FILE JQ_FILTER: the value, or "" when the file is missing or not JSON
  jq -r "$2" "$1" 2>/dev/null || true
}

# A TCP/UDP port no socket on this host uses now (loopback tests, which share the host's ports).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q . && ! ss -Huan "sport = :$p" 2>/dev/null | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# A session on this host (control on 127.0.0.1, multicast with TTL 0 and IP_MULTICAST_LOOP): sets
# GROUP (from the test's PID, plus OFFSET to keep one test's groups apart), LISTEN_PORT and
# GROUP_PORT. Skips where the host has no route for multicast.
loopback_session() {   # [OFFSET]
  GROUP=239.255.$((($$ >> 8) % 256)).$((($$ + ${1:-0}) % 256))
  ip route get "$GROUP" >/dev/null 2>&1 ||
    skip "no route for multicast ($GROUP) on this host, so the sender has no interface to loop data back on"
  LISTEN_PORT=$(free_port) && GROUP_PORT=$(free_port) || skip "no free port found"
}

# --- assertions: each records a failure and returns non-zero, never exits ---

expect() {   # DESCRIPTION cmd...: the command must succeed
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; return 1; fi
}

expect_rc() {   # NAME WANT: process NAME exited with status WANT
  local rc
  wait_rc "$1"
  rc=${E2E_RC[$1]}
  if [ "$rc" = "$2" ]; then pass "$1 exited $rc"; else fail "$1 exited $rc, expected $2"; return 1; fi
}

expect_rc_failed() {   # NAME: exited non-zero by itself (not 0, not killed by our timeout or a signal)
  local rc
  wait_rc "$1"
  rc=${E2E_RC[$1]}
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ]; then
    pass "$1 failed by itself (exit $rc)"
  else
    fail "$1 exited $rc, expected a non-zero exit of its own (1..123; 124 = hit the test's timeout)"
    return 1
  fi
}

expect_log() {   # NAME EXTENDED_REGEX [DESCRIPTION]: the log of NAME matches (case-insensitive)
  if grep -qiE -- "$2" "$WORK/$1.log"; then
    pass "$1 log says: ${3:-/$2/}"
  else
    fail "$1 log does not match /$2/ (${3:-})"
    return 1
  fi
}

expect_same_sha() {   # SOURCE COPY
  if [ ! -f "$2" ]; then fail "no file at $2"; return 1; fi
  local a b
  a=$(sha_of "$1")
  b=$(sha_of "$2")
  if [ "$a" = "$b" ]; then pass "$(basename "$2") SHA-256 matches the source"; else
    fail "$2 SHA-256 $b differs from the source's $a"
    return 1
  fi
}

expect_no_file() {   # PATH
  if [ -e "$1" ]; then fail "$1 exists but must not"; return 1; fi
  pass "no file at $1"
}

expect_no_temp() {   # DIR: no receiver temp file (.NAME.shoal-part) or resume state (.NAME.shoal-state)
  local left
  left=$(find "$1" -maxdepth 1 \( -name '.*.shoal-part' -o -name '.*.shoal-state' \) 2>/dev/null)
  if [ -n "$left" ]; then fail "temp file(s) left behind: $left"; return 1; fi
  pass "no .shoal-part / .shoal-state file in $1"
}

expect_eq() {   # DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then pass "$1 = $3"; else fail "$1 = '$2', expected '$3'"; return 1; fi
}

# --- sessions on the namespace test bed: sender in tx (198.18.0.1), receivers in rx1..rxN ---
BED_LISTEN=198.18.0.1:9100
BED_GROUP=239.1.2.3
BED_PORT=9000

# bed_receiver NAME K OUT [extra recv options]: receiver K writing OUT, JSON result in $WORK/NAME.json.
bed_receiver() {
  local name=$1 k=$2 out=$3
  shift 3
  run_bg "$name" "rx$k" 120 "$SHOAL" recv --sender "$BED_LISTEN" --iface v0 --key-file "$WORK/key" \
    --out "$out" --name "rx$k" --json "$WORK/$name.json" "$@"
}

# bed_sender NAME N OBJECT RATE [extra send options]: waits for N receivers (up to 60 s), JSON summary in
# $WORK/NAME.json.
bed_sender() {
  local name=$1 n=$2 object=$3 rate=$4
  shift 4
  run_bg "$name" tx 150 "$SHOAL" send "$object" --group "$BED_GROUP:$BED_PORT" --iface v0 \
    --listen "$BED_LISTEN" --rate "$rate" --min-receivers "$n" --max-wait 60s --key-file "$WORK/key" \
    --json "$WORK/$name.json" --no-progress "$@"
}

# The outcome the sender's JSON summary gives receiver NAME ("done", "failed", or "" if not listed).
sender_outcome() {   # SENDER_JSON RECEIVER_NAME
  json "$1" ".receivers[]? | select(.name == \"$2\") | .outcome"
}
