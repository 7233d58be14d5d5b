#!/usr/bin/env bash
# Session start-up (issue #14): seconds from starting `shoal send` to its first data frame, for a
# large object, with a cold manifest (nothing cached, page cache dropped) and a cached one (the
# manifest cache holds its hashes). One receiver waits on loopback (--ttl 0 --loopback: nothing
# leaves the host); the sender's log line "first data frame X s after start" is the figure. Each
# run is stopped right after it. Prints per mode the median and min..max of RUNS runs.
#   bench/first_frame.sh [--size GiB] [--sparse] [--runs N] [--dir DIR] BUILD_DIR
# --sparse: a sparse file of that size (all hole) instead of random data, received onto a loop
# device of the same size (over a sparse file: no disk space taken); only the cold figure (hashing
# it whole, which the cached mode needs first, takes too long at 1 TiB). Needs root (losetup).
# The object is written to DIR (default /var/tmp: a disk, not tmpfs) and removed at the end.
set -euo pipefail
size=20 runs=3 sparse=0 dir=/var/tmp
while [ $# -gt 1 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --sparse) sparse=1; shift ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--size GiB] [--sparse] [--runs N] [--dir DIR] BUILD_DIR" >&2; exit 2; }
shoal=$(cd "$1" && pwd)/cli/shoal
work=$(mktemp -d "$dir/shoal-ff.XXXXXX")
pids=()
loopdev=""
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$loopdev" ]; then losetup -d "$loopdev" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
"$shoal" keygen >"$work/key"
chmod 600 "$work/key"
out=$work/out.bin
if [ "$sparse" = 1 ]; then
  truncate -s "${size}G" "$work/object.bin"
  truncate -s "${size}G" "$work/disk.img"
  loopdev=$(losetup -f --show "$work/disk.img")
  out=$loopdev
else
  # AES-CTR keystream: random-looking data at GB/s (urandom is slower).
  # (openssl ends on SIGPIPE when head has enough.)
  { openssl enc -aes-128-ctr -pass pass:shoal-bench -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } |
    head -c $((size << 30)) >"$work/object.bin"
fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
drop_caches() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 1 >/proc/sys/vm/drop_caches; fi; }

# run MODE: one session until the first data frame (prime: until the manifest is hashed); prints
# the seconds.
run() {
  local mode=$1 listen gport log="$work/tx.log" deadline
  listen=$(port) gport=$(port)
  rm -f "$work/out.bin" "$work/.out.bin.shoal-part" "$work/.out.bin.shoal-state" "$log"
  "$shoal" recv --sender "127.0.0.1:$listen" --key-file "$work/key" --out "$out" --no-resume \
    -q >/dev/null 2>&1 &
  pids+=($!)
  "$shoal" send "$work/object.bin" --group "239.255.77.$((RANDOM % 200 + 1)):$gport" \
    --ttl 0 --loopback --listen "127.0.0.1:$listen" --rate 200M --min-receivers 1 --max-wait 30s \
    --key-file "$work/key" --no-progress >"$log" 2>&1 &
  pids+=($!)
  local want="first data frame"
  [ "$mode" = prime ] && want="manifest: [0-9]+ blocks hashed"
  deadline=$((SECONDS + ${FF_WAIT:-280}))
  until grep -qE "$want" "$log" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then echo "no '$want' within ${FF_WAIT:-280} s:" >&2; cat "$log" >&2; exit 1; fi
    sleep 0.05
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
  grep -oE "first data frame [0-9.]+s" "$log" | grep -oE "[0-9.]+" | head -1
}

stats() {   # values on stdin: "median (min..max)"
  sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
    printf "%.3f s (%.3f..%.3f)", m, v[1], v[NR]}'
}

export SHOAL_CACHE_DIR=$work/cache
kind=$([ "$sparse" = 1 ] && echo "sparse" || echo "random")
cold=()
for _ in $(seq 1 "$runs"); do
  rm -rf "$SHOAL_CACHE_DIR"
  drop_caches
  cold+=("$(run cold)")
done
echo "first data frame, ${size} GiB ${kind}, cold manifest: $(printf '%s\n' "${cold[@]}" | stats)   runs: ${cold[*]}"
[ "$sparse" = 1 ] && exit 0
rm -rf "$SHOAL_CACHE_DIR"
run prime >/dev/null
cached=()
for _ in $(seq 1 "$runs"); do
  drop_caches
  cached+=("$(run cached)")
done
echo "first data frame, ${size} GiB ${kind}, cached manifest: $(printf '%s\n' "${cached[@]}" | stats)   runs: ${cached[*]}"
