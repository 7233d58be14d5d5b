#!/usr/bin/env bash
# Beyond one L2 segment (issue #18): 3 segments x R receivers on the namespace bed (scripts/testbed.sh
# up + segment), the sender on segment 0, segments 1 and 2 behind a router that does not route
# multicast. Each mode delivers one object to all 3 x R receivers:
#   one      baseline: segment 0's R receivers only (what one segment takes at the rate)
#   relay    a `shoal relay` on node sSn1 of each remote segment (upstream by unicast, since the
#            sender's multicast does not reach it), multicasting into its segment at the same rate;
#            its receivers name the relay, then the sender (--sender RELAY,SENDER)
#   unicast  no relays: the sender serves every remote receiver itself (--scope auto)
#   peers    no relays, every receiver with --serve-peers: the remote receivers' unicast lanes are
#            served by receivers that are done, the nearest first (peer repair)
#   chain    a TCP store-and-forward chain through all 3 x R receivers (as Kascade does): each node
#            writes what it receives and forwards it to the next (bench/segments_chain.py)
# Per run: completion (seconds from the sender's start to the last receiver's exit), the sender's
# link (bytes its veth sent / object size, Ethernet headers included) and the copies that verified.
# Prints each run, then per mode the median and min..max over RUNS runs; --tsv FILE keeps the rows.
#   bench/segments.sh [--size MiB] [--rate RATE] [--receivers R] [--runs N] [--modes LIST]
#                     [--tsv FILE] [--logs DIR] BUILD_DIR   (--logs: each run's logs kept there)
# Needs root (namespaces). Cleans up its bed, processes and files on exit.
set -euo pipefail
size=64 rate=400M nrx=4 runs=3 modes=one,relay,unicast,peers,chain tsv="" logs=""
while [ $# -gt 1 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --receivers) nrx=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --tsv) tsv=$2; shift 2 ;;
    --logs) logs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
quiet=-q
[ -n "$logs" ] && quiet=""
[ $# -eq 1 ] || { sed -n '/^#   bench/,/^# Needs/p' "$0" >&2; exit 2; }
shoal=$(cd "$1" && pwd)/cli/shoal
src=$(cd "$(dirname "$0")/.." && pwd)
testbed=$src/scripts/testbed.sh
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }
bed=seg$$
work=$(mktemp -d /dev/shm/shoal-seg.XXXXXX)   # RAM: 3 x R copies, no disk in the figures
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$testbed" down "$bed" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$testbed" up "$bed" "$nrx" >/dev/null
"$testbed" segment "$bed" 1 $((nrx + 1)) >/dev/null
"$testbed" segment "$bed" 2 $((nrx + 1)) >/dev/null
"$shoal" keygen >"$work/key"
chmod 600 "$work/key"
{ openssl enc -aes-128-ctr -pass pass:shoal-bench -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } |
  head -c $((size << 20)) >"$work/object.bin"
sha=$(openssl dgst -sha256 -r "$work/object.bin" | cut -d' ' -f1)
UP=198.18.0.1:9100
GROUP=239.18.0.1:9000

# Receivers as "NODE ADDRESS" lines: segment 0's rxK, then each remote segment's sSn2..sSn(R+1).
receivers() {
  local k s
  for k in $(seq 1 "$nrx"); do echo "rx$k 198.18.0.$((100 + k))"; done
  [ "$1" = one ] && return 0
  for s in 1 2; do for k in $(seq 2 $((nrx + 1))); do echo "s${s}n$k 198.18.$s.$((100 + k))"; done; done
}
in_ns() { local node=$1; shift; ip netns exec "$bed-$node" "$@"; }
tx_bytes() { in_ns tx cat /sys/class/net/v0/statistics/tx_bytes; }
now() { date +%s.%N; }

# bg NAME NODE cmd...: runs cmd in NODE, its exit time in NAME.end, its status in NAME.rc.
bg() {
  local name=$1 node=$2
  shift 2
  ( timeout -k 5 300 ip netns exec "$bed-$node" "$@" >"$work/$name.log" 2>&1; echo $? >"$work/$name.rc"
    now >"$work/$name.end" ) &
  pids+=("$!")
}

run_shoal() {   # MODE
  local mode=$1 node addr sender s n
  n=$(receivers "$mode" | wc -l)
  while read -r node addr; do
    sender=$UP
    [[ $mode == relay && $node == s* ]] && sender="${addr%.*}.101:9100,$UP"
    serve=()
    [ "$mode" = peers ] && serve=(--serve-peers)
    bg "$node" "$node" "$shoal" recv --sender "$sender" --iface v0 --key-file "$work/key" \
      --out "$work/$node.bin" --name "$node" --no-resume --no-progress $quiet "${serve[@]}"
  done < <(receivers "$mode")
  if [ "$mode" = relay ]; then
    for s in 1 2; do
      bg "relay$s" "s${s}n1" "$shoal" relay --from "$UP" --from-unicast --from-name "relay$s" --iface v0 \
        --group "$GROUP" --rate "$rate" --min-receivers "$nrx" --max-wait 60s \
        --key-file "$work/key" --no-progress $quiet
    done
    n=$((nrx + 2))   # the sender waits for its segment's receivers and the two relays
  fi
  T0=$(now)
  bg tx tx "$shoal" send "$work/object.bin" --group "$GROUP" --iface v0 --listen "$UP" \
    --rate "$rate" --min-receivers "$n" --max-wait 60s --key-file "$work/key" --no-progress $quiet \
    --json "$work/tx.json"
}

run_chain() {
  local nodes=() addrs=() node addr i next
  while read -r node addr; do nodes+=("$node"); addrs+=("$addr"); done < <(receivers chain)
  for ((i = ${#nodes[@]} - 1; i >= 0; i--)); do   # the tail first: each node connects onward
    next=${addrs[i + 1]:-}
    bg "${nodes[i]}" "${nodes[i]}" python3 "$src/bench/segments_chain.py" node "$work/${nodes[i]}.bin" \
      ${next:+"$next:9300"}
  done
  T0=$(now)
  bg tx tx python3 "$src/bench/segments_chain.py" send "$work/object.bin" "${addrs[0]}:9300"
}

row() {   # MODE RUN
  local mode=$1 run=$2 before after node addr last=0 ok=0 t
  rm -f "$work"/*.bin.part "$work"/*.end "$work"/*.rc "$work"/*.log "$work"/[rs]*.bin
  before=$(tx_bytes)
  pids=()
  if [ "$mode" = chain ]; then run_chain; else run_shoal "$mode"; fi
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  after=$(tx_bytes)
  if [ -n "$logs" ]; then mkdir -p "$logs/$mode-$run" && cp "$work"/*.log "$work"/*.json "$logs/$mode-$run/" 2>/dev/null || true; fi
  while read -r node addr; do
    t=$(cat "$work/$node.end" 2>/dev/null || echo 0)
    last=$(awk -v a="$last" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
    [ -f "$work/$node.bin" ] && [ "$(openssl dgst -sha256 -r "$work/$node.bin" | cut -d' ' -f1)" = "$sha" ] &&
      ok=$((ok + 1))
  done < <(receivers "$mode")
  n=$(receivers "$mode" | wc -l)
  printf '%s\t%s\t%.2f\t%.2f\t%s/%s\t%s\n' "$mode" "$run" "$(awk -v a="$T0" -v b="$last" 'BEGIN { print b - a }')" \
    "$(awk -v b=$((after - before)) -v s=$((size << 20)) 'BEGIN { print b / s }')" "$ok" "$n" \
    "$(cat "$work/tx.rc" 2>/dev/null || echo -)"
}

header=$'mode\trun\tseconds\tsender_link_copies\tverified\tsender_rc'
rows=()
echo "$header"
for run in $(seq 1 "$runs"); do
  for mode in ${modes//,/ }; do
    r=$(row "$mode" "$run")
    echo "$r"
    rows+=("$r")
  done
done
[ -n "$tsv" ] && { echo "$header"; printf '%s\n' "${rows[@]}"; } >"$tsv"
echo
echo "median (min..max) over $runs runs, $size MiB, rate $rate, $nrx receivers per segment:"
printf '%s\n' "${rows[@]}" | awk -F'\t' '
  function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  { m = $1; n[m]++; s[m, n[m]] = $3; c[m, n[m]] = $4; if (!(m in seen)) { seen[m] = 1; order[++k] = m } }
  END { for (i = 1; i <= k; i++) { m = order[i]; delete a; delete b
      lo = hi = s[m, 1]; clo = chi = c[m, 1]
      for (j = 1; j <= n[m]; j++) { a[j] = s[m, j]; b[j] = c[m, j]; if (s[m, j] < lo) lo = s[m, j]; if (s[m, j] > hi) hi = s[m, j]
        if (c[m, j] < clo) clo = c[m, j]; if (c[m, j] > chi) chi = c[m, j] }
      printf "  %-8s %6.2f s (%.2f..%.2f)   sender link %5.2f copies (%.2f..%.2f)\n", m, med(a, n[m]), lo, hi, med(b, n[m]), clo, chi } }'
