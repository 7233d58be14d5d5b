#!/usr/bin/env bash
# End-to-end benchmark on the namespace test bed (scripts/testbed.sh): the same random image to N receivers
# by shoal, udpcast (udp-sender/udp-receiver) and uftp (uftp/uftpd), with iperf2's raw UDP multicast rate
# as the ceiling, side by side in one run, under the same conditions (cap on/off x loss on/off, and two
# with one receiver worse off than the rest). Prints a markdown table per condition; docs/benchmarks.md
# ("End to end") explains the columns and shows a full run.
#
# usage: bench/e2e.sh [options]          (as root; needs udpcast, uftp, iperf, nftables, iproute2)
#   --size SIZE          image size, K/M/G = KiB/MiB/GiB (default 128M)
#   --runs N             runs per tool and condition (default 5)
#   --receivers N        receivers on the bed (default 4)
#   --tools LIST         comma list of shoal,udpcast,uftp,iperf (default all four), and shoal-peers:
#                        shoal with every receiver started with --serve-peers (peer repair)
#   --conditions LIST    comma list of capped-0,capped-1,uncapped-0,uncapped-1,policer,slow (default
#                        the first four); "-1" means --loss per mille on every receiver port, "-0" no
#                        loss. policer: the cap with a --cap-burst bucket, --loss toward receiver 1
#                        only. slow: the cap, and receiver 1's bridge port limited to cap/6
#                        (testbed.sh portcap). Both need 2+ receivers.
#   --cap RATE           the emulated switch's multicast cap, tc syntax (default 300mbit)
#   --cap-burst BYTES    the cap's bucket in the policer condition (default 65536; capped-* and slow
#                        keep testbed.sh's 131072)
#   --loss PERMILLE      random loss per receiver port in the lossy conditions (default 10 = 1%): every
#                        port in capped-1 and uncapped-1, receiver 1's in policer
#   --rate TOOL:COND=R   a tool's rate setting (repeatable) for COND = capped, uncapped, policer or
#                        slow, in the tool's own syntax; "none" = leave the tool's default. Defaults:
#                        the RATE table below.
#   --shoal PATH         shoal binary (default: build/cli/shoal in this repository)
#   --shoal-args "ARGS"  extra arguments for `shoal send` (e.g. "--fec 64+2")
#   --manifest MODE      cold (default): every shoal run hashes the image, as a first send does;
#                        cached: repeat sends of the unchanged image (the first run warms the cache)
#   --source MODE        how shoal's sender takes the image: file (default); stdin (`cat IMAGE |
#                        shoal send -`, spooled whole before the session); stdin-bounded (the same
#                        with --size and --spool-max 64M: read while the session runs)
#   --timeout SECONDS    bound on every process of one run (default: 30 + size at 20 Mbit/s; with
#                        slow, at least 30 + 3 x size/(cap/6))
#   --tsv FILE           raw per-run records (default /tmp/shoal-e2e-<time>.tsv)
#   --keep               keep the work dir (image, logs and JSON of every run; not the copies)
# Every process runs under `timeout`; the bed (unique prefix) and the work dir go away on exit or Ctrl-C.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TESTBED=$REPO/scripts/testbed.sh

SIZE=128M RUNS=5 NRX=4 TOOLS=shoal,udpcast,uftp,iperf
CONDITIONS=capped-0,capped-1,uncapped-0,uncapped-1
CAP=300mbit CAP_BURST=65536 LOSS=10 SHOAL=$REPO/build/cli/shoal SHOAL_ARGS="" MANIFEST=cold RUN_TIMEOUT="" TSV="" KEEP=0
SOURCE=file
declare -A RATE=(
  # At the cap: each tool at the cap's nominal value, as its users would set it. shoal's --rate
  # counts Ethernet frames without FCS, as the cap (tbf) does (engine::kWireOverhead), udpcast's
  # --max-bitrate is "the raw bitrate, including packet headers" (man page), uftp's -R is in
  # Kbit/s. iperf2's -b counts UDP
  # payload and reads "M" as 2^20: 291m (10^6) of 1440-byte datagrams is 299.5 Mbit/s of frames.
  [shoal:capped]=300M [udpcast:capped]=300m [uftp:capped]=300000 [iperf:capped]=291m
  # policer and slow have the same cap on the sender's port: the same settings (a user sets the
  # switch's limit, not the slowest port's, which the sender does not know).
  [shoal:policer]=300M [udpcast:policer]=300m [uftp:policer]=300000 [iperf:policer]=291m
  [shoal:slow]=300M [udpcast:slow]=300m [uftp:slow]=300000 [iperf:slow]=291m
  # Uncapped: each tool at its best setting (see docs/benchmarks-e2e.md for how these were picked).
  [shoal:uncapped]=400M [udpcast:uncapped]=none [uftp:uncapped]=1000000 [iperf:uncapped]=10g
)

die() { echo "e2e: $*" >&2; exit 2; }
usage() { sed -n '/^# usage:/,/^# Every process/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while (($#)); do
  case $1 in
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --receivers) NRX=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --conditions) CONDITIONS=$2; shift 2 ;;
    --cap) CAP=$2; shift 2 ;;
    --loss) LOSS=$2; shift 2 ;;
    --cap-burst) CAP_BURST=$2; shift 2 ;;
    --rate) [[ $2 =~ ^(shoal|udpcast|uftp|iperf):(capped|uncapped|policer|slow)=(.+)$ ]] ||
              die "--rate wants TOOL:COND=R with COND capped, uncapped, policer or slow, got '$2'"
            RATE[${BASH_REMATCH[1]}:${BASH_REMATCH[2]}]=${BASH_REMATCH[3]}; shift 2 ;;
    --shoal) SHOAL=$2; shift 2 ;;
    --shoal-args) SHOAL_ARGS=$2; shift 2 ;;
    --manifest) MANIFEST=$2; shift 2; [[ $MANIFEST == cold || $MANIFEST == cached ]] || die "--manifest: cold or cached" ;;
    --timeout) RUN_TIMEOUT=$2; shift 2 ;;
    --source) SOURCE=$2; shift 2; [[ $SOURCE =~ ^(file|stdin|stdin-bounded)$ ]] || die "--source: file, stdin or stdin-bounded" ;;
    --tsv) TSV=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

size_bytes() {   # 128M -> 134217728 (K/M/G are binary: the image is a file)
  [[ $1 =~ ^([0-9]+)([KMG]?)$ ]] || die "--size wants a number with K, M or G, got '$1'"
  local n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
  case $u in K) echo $((n << 10)) ;; M) echo $((n << 20)) ;; G) echo $((n << 30)) ;; *) echo "$n" ;; esac
}
cap_bps() {   # 300mbit -> 300000000 (tc units are decimal)
  [[ $1 =~ ^([0-9]+)(kbit|mbit|gbit)$ ]] || die "--cap wants e.g. 300mbit, got '$1'"
  local n=${BASH_REMATCH[1]}
  case ${BASH_REMATCH[2]} in kbit) echo $((n * 1000)) ;; mbit) echo $((n * 1000000)) ;; gbit) echo $((n * 1000000000)) ;; esac
}

BYTES=$(size_bytes "$SIZE")
CAP_BPS=$(cap_bps "$CAP")
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number"
[[ $NRX =~ ^[1-9][0-9]*$ ]] && ((NRX <= 9)) || die "--receivers wants 1..9"   # uftp client ids are one hex digit here
[[ $LOSS =~ ^[0-9]+$ ]] && ((LOSS <= 1000)) || die "--loss wants 0..1000 per mille"
IFS=, read -ra TOOL_LIST <<<"$TOOLS"
IFS=, read -ra COND_LIST <<<"$CONDITIONS"
for t in "${TOOL_LIST[@]}"; do [[ $t =~ ^(shoal|shoal-peers|udpcast|uftp|iperf)$ ]] || die "unknown tool '$t'"; done
[[ $CAP_BURST =~ ^[0-9]+$ ]] && ((CAP_BURST >= 1600)) || die "--cap-burst wants bytes >= 1600"
SLOW_RATE=$((CAP_BPS / 6000))kbit   # receiver 1's port in the slow condition: cap/6
for c in "${COND_LIST[@]}"; do
  [[ $c =~ ^((capped|uncapped)-[01]|policer|slow)$ ]] || die "unknown condition '$c'"
  [[ $c =~ ^(policer|slow)$ ]] && ((NRX < 2)) && die "condition $c needs --receivers 2 or more"
done
RUN_TIMEOUT_MIN=$((30 + BYTES * 8 / 20000000))
# The slow receiver's floor is size/(cap/6): give it three times that.
SLOW_TIMEOUT_MIN=$((30 + BYTES * 8 * 6 * 3 / CAP_BPS))
if [[ ",$CONDITIONS," == *,slow,* ]] && ((SLOW_TIMEOUT_MIN > RUN_TIMEOUT_MIN)); then RUN_TIMEOUT_MIN=$SLOW_TIMEOUT_MIN; fi
RUN_TIMEOUT=${RUN_TIMEOUT:-$RUN_TIMEOUT_MIN}
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
need() { command -v "$1" >/dev/null || die "'$1' is not installed ($2)"; }
for t in "${TOOL_LIST[@]}"; do
  case $t in
    shoal | shoal-peers) [ -x "$SHOAL" ] || die "no shoal binary at $SHOAL (build it, or pass --shoal PATH)" ;;
    udpcast) need udp-sender "apt-get install udpcast"; need udp-receiver "apt-get install udpcast" ;;
    uftp) need uftp "apt-get install uftp"; need uftpd "apt-get install uftp" ;;
    iperf) need iperf "apt-get install iperf" ;;
  esac
done
need sha256sum coreutils
need jq "apt-get install jq (reads shoal's JSON summary)"

PREFIX=e2e$$   # unique per invocation; testbed.sh namespaces are PREFIX-tx, PREFIX-rxK, PREFIX-br
WORK=$(mktemp -d /dev/shm/shoal-e2e.XXXXXX)   # tmpfs: disk speed stays out of the network figures
TSV=${TSV:-/tmp/shoal-e2e-$(date +%Y%m%d-%H%M%S).tsv}
IMAGE=$WORK/image.bin
BED_UP=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((BED_UP)); then "$TESTBED" down "$PREFIX" >/dev/null 2>&1 || echo "e2e: testbed down $PREFIX failed" >&2; fi
  if ((KEEP)); then echo "e2e: work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "e2e: interrupted" >&2; exit 130' INT TERM

# shellcheck source=bench/e2e/tools.sh
source "$HERE/e2e/tools.sh"

# set_condition COND: the bed's cap, port cap and loss for COND, and the floors the records compare
# receivers' exits with (tools.sh write_record): FAST_FLOOR_S = size/cap, SLOW_FLOOR_S = size/(cap/6).
set_condition() {
  local cond=$1 floor
  floor=$(awk -v b="$BYTES" -v c="$CAP_BPS" 'BEGIN { printf "%.6f", b * 8 / c }')
  FAST_FLOOR_S="" SLOW_FLOOR_S=""
  case $cond in
    capped-* | slow) "$TESTBED" cap "$PREFIX" "$CAP" 131072; FAST_FLOOR_S=$floor ;;
    policer) "$TESTBED" cap "$PREFIX" "$CAP" "$CAP_BURST"; FAST_FLOOR_S=$floor ;;
    *) "$TESTBED" cap "$PREFIX" off ;;
  esac
  case $cond in
    *-1) "$TESTBED" loss "$PREFIX" all "$LOSS" ;;
    policer) "$TESTBED" loss "$PREFIX" 1 "$LOSS" ;;
    *) "$TESTBED" noloss "$PREFIX" ;;
  esac
  if [ "$cond" = slow ]; then
    "$TESTBED" portcap "$PREFIX" 1 "$SLOW_RATE"
    SLOW_FLOOR_S=$(awk -v f="$floor" 'BEGIN { printf "%.6f", f * 6 }')
  else "$TESTBED" portcap "$PREFIX" 1 off
  fi
}

echo "e2e: $SIZE image ($BYTES bytes), $NRX receivers, $RUNS run(s), tools ${TOOLS}, conditions ${CONDITIONS}," \
  "cap $CAP, loss $LOSS per mille, policer burst $CAP_BURST, slow port $SLOW_RATE, per-run timeout ${RUN_TIMEOUT}s" >&2
echo "e2e: load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
head -c "$BYTES" /dev/urandom >"$IMAGE"
IMAGE_SHA=$(sha256_of "$IMAGE")
"$SHOAL" keygen >"$WORK/shoal.key" 2>/dev/null || [[ ! " ${TOOL_LIST[*]} " =~ " shoal " ]] || die "shoal keygen failed"
chmod 600 "$WORK/shoal.key"
BED_UP=1
"$TESTBED" up "$PREFIX" "$NRX" wire >&2
add_udp_counters

printf '%s\n' "# e2e $(date -u +%Y-%m-%dT%H:%M:%SZ) size=$BYTES receivers=$NRX cap=$CAP loss=$LOSS cap_burst=$CAP_BURST slow_port=$SLOW_RATE" \
  "$(record_header)" >"$TSV"
for cond in "${COND_LIST[@]}"; do
  set_condition "$cond"
  for run in $(seq 1 "$RUNS"); do
    # Rotate the tool order each run, so no tool always runs first (or right after another's burst).
    n=${#TOOL_LIST[@]}
    for i in $(seq 0 $((n - 1))); do
      tool=${TOOL_LIST[$(((i + run - 1) % n))]}
      rate=${RATE[${tool%-peers}:${cond%-*}]}
      dir=$WORK/$cond/$tool/$run
      mkdir -p "$dir"
      # A run that breaks (a tool that hangs, output we cannot parse) must not end the whole benchmark:
      # it is recorded as failed (no time, no verified copy) and counted in the table.
      run_tool "$tool" "$dir" "$rate" || true
      if [ -s "$dir/record" ]; then rec=$(cat "$dir/record"); else
        rec=$(printf -- '-\t-\t0\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t99\t-\t-\t-\t-\t0\t-\t-\t-\t-\tno-record' "$NRX")
        echo "e2e: $cond $tool run $run left no record (rerun with --keep to see its logs)" >&2
      fi
      printf '%s\t%s\t%s\t%s\t%s\n' "$cond" "$tool" "$run" "$rate" "$rec" >>"$TSV"
      echo "e2e: $cond $tool run $run: $(echo "$rec" | cut -f1-3)" >&2
      # The copies go at once (4 x 128 MiB per run in tmpfs); --keep keeps the logs and summaries.
      if ((KEEP)); then find "$dir" -type f \( -name '*.img' -o -path '*/d[0-9]*/*' \) -delete; else rm -rf "$dir"; fi
    done
  done
done
echo "e2e: load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "e2e: raw records in $TSV" >&2
awk -v size="$BYTES" -v cap_bps="$CAP_BPS" -v nrx="$NRX" -v cap_burst="$CAP_BURST" -v loss="$LOSS" -f "$HERE/e2e/summarize.awk" "$TSV"
