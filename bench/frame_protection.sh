#!/usr/bin/env bash
# Cost of data-frame protection end to end: one sender, one receiver on the namespace test bed, the
# same object sent RUNS times in each mode -- --no-frame-auth (off), default (auth: AES-GCM tag),
# --encrypt -- interleaved so the modes share the machine's conditions. Reports, per mode, the median
# (and min..max) of wall time, and of throughput per core on each side: object bits / CPU seconds
# (user + system) the process used.
#   bench/frame_protection.sh [--size MiB] [--runs N] [--rate RATE] BUILD_DIR
# Needs root (network namespaces). Cleans up its bed and files.
set -euo pipefail
size=256 runs=3 rate=3G
while [ $# -gt 1 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--size MiB] [--runs N] [--rate RATE] BUILD_DIR" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
shoal=$(cd "$1" && pwd)/cli/shoal
testbed=$repo/scripts/testbed.sh
bed=fp$$
work=$(mktemp -d /dev/shm/shoal-fp.XXXXXX)
trap '"$testbed" down $bed >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$testbed" up $bed 1 >/dev/null
head -c $((size << 20)) /dev/urandom >"$work/object.bin"
"$shoal" keygen >"$work/key"
chmod 600 "$work/key"
# cpu_of CMD...: runs CMD, prints "<cpu seconds> <exit status>" of it (children included) on fd 3.
cpu_wrap='import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.3f} {rc}", file=open(sys.argv[0] + ".cpu", "w"))'
echo "$cpu_wrap" >"$work/cpu.py"
declare -A extra=([off]="--no-frame-auth" [auth]="" [encrypt]="--encrypt")
echo -e "mode\trun\twall_s\tsender_cpu_s\treceiver_cpu_s" >"$work/results.tsv"
for run in $(seq 1 "$runs"); do
  for mode in off auth encrypt; do
    rm -f "$work/out.bin"
    cp "$work/cpu.py" "$work/rx.py"
    cp "$work/cpu.py" "$work/tx.py"
    ip netns exec $bed-rx1 timeout 120 python3 "$work/rx.py" "$shoal" -q recv --sender 198.18.0.1:9100 \
      --iface v0 --key-file "$work/key" --out "$work/out.bin" --sync none &
    rxpid=$!
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    ip netns exec $bed-tx timeout 120 python3 "$work/tx.py" "$shoal" -q send "$work/object.bin" \
      --group 239.1.2.3:9000 --iface v0 --listen 198.18.0.1:9100 --rate "$rate" --key-file "$work/key" \
      --no-progress ${extra[$mode]} >/dev/null
    wait $rxpid
    t1=$(date +%s.%N)
    read -r txcpu txrc <"$work/tx.py.cpu"
    read -r rxcpu rxrc <"$work/rx.py.cpu"
    [ "$txrc" = 0 ] && [ "$rxrc" = 0 ] || { echo "run $run $mode failed (sender $txrc, receiver $rxrc)" >&2; exit 1; }
    cmp -s "$work/object.bin" "$work/out.bin" || { echo "run $run $mode: copy differs" >&2; exit 1; }
    echo -e "$mode\t$run\t$(python3 -c "print(round($t1 - $t0, 3))")\t$txcpu\t$rxcpu" >>"$work/results.tsv"
  done
done
cat "$work/results.tsv"
echo
python3 - "$work/results.tsv" "$size" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
bits = int(sys.argv[2]) * 8 * 2**20
print(f"{'mode':8} {'wall s (median, min..max)':28} {'sender Gbit/s per core':26} {'receiver Gbit/s per core':26}")
base = {}
for mode in ("off", "auth", "encrypt"):
    r = [x for x in rows if x["mode"] == mode]
    def col(k, f=float): return sorted(f(x[k]) for x in r)
    wall = col("wall_s")
    tx = sorted(bits / float(x["sender_cpu_s"]) / 1e9 for x in r)
    rx = sorted(bits / float(x["receiver_cpu_s"]) / 1e9 for x in r)
    m = (statistics.median(tx), statistics.median(rx))
    base.setdefault("off", m)
    rel = f" ({m[0] / base['off'][0]:.2f}x, {m[1] / base['off'][1]:.2f}x of off)" if mode != "off" else ""
    print(f"{mode:8} {statistics.median(wall):6.2f} ({wall[0]:.2f}..{wall[-1]:.2f}){'':11} "
          f"{m[0]:5.2f} ({tx[0]:.2f}..{tx[-1]:.2f}){'':8} {m[1]:5.2f} ({rx[0]:.2f}..{rx[-1]:.2f}){rel}")
PY
