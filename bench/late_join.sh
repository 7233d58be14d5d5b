#!/usr/bin/env bash
# A machine that boots late (issue #17 item 1): how long a receiver that joins a running
# `shoal send --until` session, after the first receiver is done, takes from its join to its
# verified object, against the object's time at the rate (size x 8 / rate). One receiver first,
# then the late one, on loopback (--ttl 0 --loopback: nothing leaves the host). The times are the
# sender's --events records "join" (late) and "done" for the late receiver. Prints each run and the
# median and min..max of the ratio over RUNS runs.
#   bench/late_join.sh [--size MiB] [--rate RATE] [--runs N] BUILD_DIR
set -euo pipefail
size=128 rate=300M runs=3
while [ $# -gt 1 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--size MiB] [--rate RATE] [--runs N] BUILD_DIR" >&2; exit 2; }
shoal=$(cd "$1" && pwd)/cli/shoal
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/shoal-late.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$shoal" keygen >"$work/key"
chmod 600 "$work/key"
{ openssl enc -aes-128-ctr -pass pass:shoal-bench -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } |
  head -c $((size << 20)) >"$work/object.bin"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rate_bps=$(numfmt --from=si "${rate%bit}")
object_s=$(awk -v b=$((size << 20)) -v r="$rate_bps" 'BEGIN {print b * 8 / r}')
group=239.255.$((($$ >> 8) % 256)).$((($$ + 32) % 256))

ratios=()
for i in $(seq 1 "$runs"); do
  listen=$(port) gport=$(port)
  rm -f "$work"/rx*.bin "$work/events"
  "$shoal" recv --sender "127.0.0.1:$listen" --key-file "$work/key" --out "$work/rx1.bin" --name early \
    --no-resume -q >/dev/null 2>&1 &
  rx1=$!
  pids+=("$rx1")
  "$shoal" send "$work/object.bin" --group "$group:$gport" --ttl 0 --loopback \
    --listen "127.0.0.1:$listen" --rate "$rate" --until 120s --key-file "$work/key" \
    --events "$work/events" --no-progress -q >/dev/null 2>&1 &
  tx=$!
  pids+=("$tx")
  wait "$rx1" || { echo "run $i: the first receiver failed" >&2; exit 1; }
  "$shoal" recv --sender "127.0.0.1:$listen" --key-file "$work/key" --out "$work/rx2.bin" --name late \
    --no-resume -q >/dev/null 2>&1 || { echo "run $i: the late receiver failed" >&2; exit 1; }
  kill -TERM "$tx" 2>/dev/null || true
  wait "$tx" 2>/dev/null || true
  joined=$(jq -r 'select(.event == "join" and .receiver == "late") | .t' "$work/events" | head -n1)
  done_t=$(jq -r 'select(.event == "done" and .receiver == "late") | .t' "$work/events" | head -n1)
  cmp -s "$work/rx2.bin" "$work/object.bin" || { echo "run $i: the late copy differs" >&2; exit 1; }
  r=$(awk -v a="$joined" -v b="$done_t" -v o="$object_s" 'BEGIN {printf "%.3f", (b - a) / o}')
  printf 'run %d: joined at %.2fs, verified %.2fs later; object time %.2fs; ratio %s\n' "$i" "$joined" \
    "$(awk -v a="$joined" -v b="$done_t" 'BEGIN {print b - a}')" "$object_s" "$r"
  ratios+=("$r")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {printf "late joiner, join to verified / object time: median %s, min %s, max %s (%d runs, %s MiB at %s)\n", v[int((NR + 1) / 2)], v[1], v[NR], NR, "'"$size"'", "'"$rate"'"}'
