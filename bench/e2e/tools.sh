# shellcheck shell=bash
# Sourced by bench/e2e.sh: one function per tool. Each starts the receivers in rx1..rxN, gives them a
# moment to wait, starts the sender in tx, and times sender start -> sender exit (every sender here
# exits only once all receivers confirmed). Then it checks every copy's SHA-256 and writes one record.
# Uses from e2e.sh: PREFIX NRX BYTES IMAGE IMAGE_SHA WORK SHOAL SHOAL_ARGS MANIFEST RUN_TIMEOUT, and the
# condition's floors FAST_FLOOR_S (size/cap) and SLOW_FLOOR_S (size/(cap/6)), empty when not applicable.

# Groups and ports, one set per tool, so a straggler of one tool can never feed another.
SHOAL_GROUP=239.18.0.1:9000 SHOAL_CTRL=198.18.0.1:9100
UDPCAST_PORTBASE=9002 UDPCAST_DATA=239.18.0.2
UFTP_PUB=239.18.0.4 UFTP_PRIV=239.18.0.5
IPERF_GROUP=239.18.0.6 IPERF_PORT=9006
IPERF_LEN=1440        # the datagram payload shoal sends (32-byte header + 1408-byte symbol)
FRAME_BYTES=1482      # a full-size frame on the wire: 1440 + 8 UDP + 20 IP + 14 Ethernet
WAIT_READY=1          # seconds the receivers get to start waiting before the sender starts

record_header() {
  printf '%s\t' cond tool run rate wall_s rxexit_s ok copies goodput_mbps wire_ratio lost_per_rx \
    cap_dropped loss_drops rcvbuf_errs repair_bytes ratio_rx ratio_total sender_rc \
    tx_exit_s fast_exit_s fast_ratio rx1_exit_s rx1_ok slow_ratio rx1_lost port_dropped mcast_repair_share
  printf 'note\n'
}

# start_bg NAME NODE CMD...: CMD in namespace PREFIX-NODE under timeout, in the background. Leaves
# $RUN/NAME.pid (the timeout process: a signal to it reaches CMD), NAME.log, and NAME.end
# ("exit-status epoch-seconds") once CMD has exited.
start_bg() {
  local name=$1 node=$2
  shift 2
  (
    timeout -k 3 "$RUN_TIMEOUT" ip netns exec "$PREFIX-$node" "$@" >"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    rc=0
    wait $! || rc=$?
    echo "$rc $EPOCHREALTIME" >"$RUN/$name.end"
  ) </dev/null >/dev/null 2>&1 &
}

# run_sender NODE CMD...: runs the sender and waits for it; sets T0, T1 (epoch seconds), SENDER_RC.
run_sender() {
  local node=$1
  shift
  SENDER_RC=0
  T0=$EPOCHREALTIME
  # In the background plus `wait`: a Ctrl-C then runs e2e.sh's trap at once (bash defers traps
  # while a foreground child runs, and timeout's own process group never sees the terminal's ^C).
  timeout -k 3 "$RUN_TIMEOUT" ip netns exec "$PREFIX-$node" "$@" >"$RUN/tx.log" 2>&1 </dev/null &
  wait $! || SENDER_RC=$?
  T1=$EPOCHREALTIME
}

# wait_receivers SECONDS: until every rxK.end exists (or SECONDS pass); then stop what still runs.
wait_receivers() {
  local deadline k
  deadline=$(awk -v t="$EPOCHREALTIME" -v s="$1" 'BEGIN { printf "%d", (t + s) * 10 }')
  while :; do
    local all=1
    for k in $(seq 1 "$NRX"); do [ -e "$RUN/rx$k.end" ] || all=0; done
    ((all)) && return 0
    (($(awk -v t="$EPOCHREALTIME" 'BEGIN { printf "%d", t * 10 }') >= deadline)) && break
    sleep 0.05
  done
  stop_receivers
}

stop_receivers() {   # TERM, then KILL, every receiver still running (by its own pid only)
  local k pid
  for k in $(seq 1 "$NRX"); do
    [ -e "$RUN/rx$k.end" ] && continue
    pid=$(cat "$RUN/rx$k.pid" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 40); do
    local left=0
    for k in $(seq 1 "$NRX"); do [ -e "$RUN/rx$k.end" ] || left=1; done
    ((left)) || return 0
    sleep 0.05
  done
  for k in $(seq 1 "$NRX"); do
    [ -e "$RUN/rx$k.end" ] && continue
    pid=$(cat "$RUN/rx$k.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null || true
  done
}

# add_udp_counters: our own nftables table in the bed's bridge namespace (beside testbed.sh's), counting
# datagrams to the tools' groups (239.18.0.0/24) that enter the bridge from the sender (so got through
# the cap) and that leave it toward each receiver. The difference is what the bridge did not deliver:
# the loss rule's drops, and frames sent before a receiver's IGMP join reached the snooping bridge.
# It also lets run_shoal count the frames the cap dropped: tc counts a dropped GSO batch as one drop.
add_udp_counters() {
  local k rules=("table bridge e2e {"
    "  chain from_tx { type filter hook prerouting priority -10; policy accept;"
    "    iifname \"ptx\" ip daddr 239.18.0.0/24 counter; }"
    "  chain to_rx { type filter hook postrouting priority 10; policy accept;")
  for k in $(seq 1 "$NRX"); do rules+=("    oifname \"prx$k\" ip daddr 239.18.0.0/24 counter"); done
  rules+=("  }" "}")
  printf '%s\n' "${rules[@]}" | ip netns exec "$PREFIX-br" nft -f -
}

# Counters of the bed, read before and after a run: the sender veth's bytes, the cap's drops, the loss
# rule's drops, every receiver's UDP receive-buffer drops, then the datagrams into the bridge from the
# sender and out of it to each receiver (add_udp_counters), in that order, and last the drops of the
# receiver ports' tbf (testbed.sh portcap; 0 without one).
counters() {
  local tx tbf nft rcv=0 k udp port
  tx=$(ip netns exec "$PREFIX-tx" cat /sys/class/net/v0/statistics/tx_bytes)
  udp=$(ip netns exec "$PREFIX-br" nft list table bridge e2e |
    awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") printf "%s ", $(i + 1) }')
  tbf=$(tc -n "$PREFIX-tx" -s qdisc show dev v0 | awk '/dropped/ { gsub(/[,()]/, " "); for (i = 1; i <= NF; i++) if ($i == "dropped") { print $(i + 1); exit } }')
  nft=$(ip netns exec "$PREFIX-br" nft list chain bridge shoal loss |
    awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }')
  for k in $(seq 1 "$NRX"); do
    rcv=$((rcv + $(ip netns exec "$PREFIX-rx$k" awk '/^Udp:/ && $2 ~ /^[0-9]+$/ { print $6 }' /proc/net/snmp)))
  done
  port=$(tc -n "$PREFIX-br" -s qdisc show | awk '/^qdisc tbf .* dev prx[0-9]+ / { getline; gsub(/[,()]/, " ")
    for (i = 1; i <= NF; i++) if ($i == "dropped") s += $(i + 1) } END { print s + 0 }')
  echo "${tx:-0} ${tbf:-0} $nft $rcv $udp ${port:-0}"
}

# sha256_of FILE: hex digest. openssl's SHA-NI path is ~7x faster here than coreutils' sha256sum.
sha256_of() {
  if command -v openssl >/dev/null; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1; else sha256sum "$1" | cut -d' ' -f1; fi
}

# check_copies FILE...: sets COPIES_OK, how many of the files hold exactly the image (SHA-256), and
# RX1_OK, 1 if the first one (receiver 1's) does, else 0.
check_copies() {
  local f good
  COPIES_OK=0 RX1_OK=0
  for f in "$@"; do
    good=0
    [ -f "$f" ] && [ "$(sha256_of "$f")" = "$IMAGE_SHA" ] && good=1
    COPIES_OK=$((COPIES_OK + good))
    [ "$f" = "$1" ] && RX1_OK=$good
  done
  return 0
}

# rx_exit K: epoch seconds at which receiver K was done: rxK.done if the tool wrote one (uftpd, a
# daemon, from its log), else rxK.end (the process's exit); empty if neither exists.
rx_exit() {
  if [ -s "$RUN/rx$1.done" ]; then cat "$RUN/rx$1.done"
  elif [ -e "$RUN/rx$1.end" ]; then cut -d' ' -f2 "$RUN/rx$1.end"
  fi
}

# write_record OK REPAIR_TOTAL REPAIR_PER_RX PAYLOAD NOTE [WALL GOODPUT]: one TSV record into
# $RUN/record, from T0/T1/SENDER_RC, the rx*.end files and the counters C0 (before) / C1 (after).
#   REPAIR_TOTAL   repair bytes the sender sent (multicast once, plus all unicast), "-" if unknown
#   REPAIR_PER_RX  repair bytes an average receiver was sent (multicast + its share of unicast)
#   PAYLOAD        payload bytes per datagram, to turn lost datagrams into lost bytes
# Lost datagrams per receiver = frames the cap dropped (it sits before the bridge: each of its drops
# costs every receiver) + the mean over receivers of (datagrams into the bridge - datagrams out to that
# receiver) + (receive-buffer drops + the port tbf's drops) / N. CAP_FRAMES overrides the cap's own drop count, which counts a
# dropped GSO batch as one.
# Ratios: ratio_rx = REPAIR_PER_RX / bytes an average receiver lost; ratio_total = REPAIR_TOTAL /
# bytes all receivers lost together.
# Per receiver (the new conditions' receiver 1 is the slow or lossy one; RXTIMES=0 when the receivers'
# exits mean nothing, as iperf2's): tx_exit_s = sender start -> sender exit; fast_exit_s = the latest
# rx_exit of receivers 2..N; rx1_exit_s = receiver 1's; fast_ratio and slow_ratio = those over
# FAST_FLOOR_S and SLOW_FLOOR_S; rx1_ok = receiver 1's copy verified (RX1_OK); rx1_lost = datagrams lost
# toward receiver 1 (cap + bridge gap + port tbf; receive-buffer drops are in rcvbuf_errs);
# mcast_repair_share = MCAST_REPAIR (shoal's multicast repair bytes) / size.
write_record() {
  local ok=$1 repair=$2 repair_rx=$3 payload=$4 note=$5 wall=${6:-} goodput=${7:-}
  local last=0 fast=0 rx1="" k e
  for k in $(seq 1 "$NRX"); do
    [ -e "$RUN/rx$k.end" ] || continue
    e=$(cut -d' ' -f2 "$RUN/rx$k.end")
    last=$(awk -v a="$last" -v b="$e" 'BEGIN { print (b > a) ? b : a }')
  done
  if [ "${RXTIMES:-1}" = 1 ]; then
    rx1=$(rx_exit 1)
    for k in $(seq 2 "$NRX"); do
      e=$(rx_exit "$k")
      [ -n "$e" ] && fast=$(awk -v a="$fast" -v b="$e" 'BEGIN { print (b > a) ? b : a }')
    done
  fi
  awk -v t0="$T0" -v t1="$T1" -v last="$last" -v c0="$C0" -v c1="$C1" -v n="$NRX" -v size="$BYTES" \
    -v fb="$FRAME_BYTES" -v ok="$ok" -v rc="$SENDER_RC" -v repair="$repair" -v repair_rx="$repair_rx" \
    -v payload="$payload" -v note="$note" -v wall="$wall" -v goodput="$goodput" \
    -v rxexit="${RXEXIT:-1}" -v capf="${CAP_FRAMES:-}" -v fast="$fast" -v rx1="$rx1" \
    -v rx1ok="${RX1_OK:--}" -v ffloor="${FAST_FLOOR_S:-}" -v sfloor="${SLOW_FLOOR_S:-}" \
    -v mrep="${MCAST_REPAIR:-}" '
    BEGIN {
      split(c0, a, " "); split(c1, b, " ")
      tx = b[1] - a[1]; tbf = b[2] - a[2]; nft = b[3] - a[3]; rcv = b[4] - a[4]
      cap = (capf != "") ? capf : tbf
      if (wall == "") wall = t1 - t0
      if (goodput == "") goodput = (wall > 0) ? size * 8 / wall / 1e6 : "-"
      rx = (rxexit && last > 0) ? sprintf("%.3f", last - t0) : "-"
      gap = 0; for (i = 1; i <= n; i++) gap += (b[5] - a[5]) - (b[5 + i] - a[5 + i])
      lost = gap / n + rcv / n + cap + (b[6 + n] - a[6 + n]) / n
      rr = (repair_rx != "-" && lost > 0) ? sprintf("%.3f", repair_rx / (lost * payload)) : "-"
      rt = (repair != "-" && lost > 0) ? sprintf("%.3f", repair / (lost * n * payload)) : "-"
      # "-" = no measurement (an iperf2 run in which no server reported).
      printf "%s\t%s\t%d\t%d\t%s\t%.4f\t%.1f\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t",
        (wall == "-") ? "-" : sprintf("%.3f", wall), rx, ok, n,
        (goodput == "-") ? "-" : sprintf("%.1f", goodput), (tx + cap * fb) / size, lost, cap, nft, rcv,
        repair, rr, rt, rc
      fx = (fast > 0) ? fast - t0 : "-"; r1 = (rx1 != "") ? rx1 - t0 : "-"
      port = b[6 + n] - a[6 + n]
      printf "%.3f\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", t1 - t0, f3(fx), ratio(fx, ffloor), f3(r1),
        rx1ok, ratio(r1, sfloor), cap + (b[5] - a[5]) - (b[6] - a[6]) + port, port,
        (mrep != "" && mrep != "-" && size > 0) ? sprintf("%.4f", mrep / size) : "-", note
    }
    function f3(x) { return (x == "-") ? "-" : sprintf("%.3f", x) }
    function ratio(x, floor) { return (x == "-" || floor == "") ? "-" : sprintf("%.3f", x / floor) }' >"$RUN/record"
}

# shoal-peers: every receiver serves its peers once verified (recv --serve-peers).
run_shoal-peers() {
  SHOAL_RECV_ARGS=--serve-peers run_shoal "$1"
}

run_shoal() {   # $1 = --rate
  local rate=$1 k outs=() extra=()
  [ "$rate" = none ] || extra=(--rate "$rate")
  for k in $(seq 1 "$NRX"); do
    # shellcheck disable=SC2086  # SHOAL_RECV_ARGS is a list of words on purpose
    start_bg "rx$k" "rx$k" "$SHOAL" -q recv --sender "$SHOAL_CTRL" --iface v0 --key-file "$WORK/shoal.key" \
      --out "$RUN/rx$k.img" --json "$RUN/rx$k.json" --name "rx$k" --no-progress ${SHOAL_RECV_ARGS:-}
    outs+=("$RUN/rx$k.img")
  done
  sleep "$WAIT_READY"
  C0=$(counters)
  # shellcheck disable=SC2086  # SHOAL_ARGS is a list of words on purpose
  # Cold (default): every run hashes the image, as a first send does. Cached: the manifest cache
  # in $WORK, warmed by the first shoal run (--manifest cached).
  if [ "$MANIFEST" = cached ]; then
    extra+=(--manifest-cache "$WORK/manifests")
  else
    extra+=(--no-manifest-cache)
  fi
  # --source: the image as a file, or piped in (spooled whole first, or read while sending).
  local src=("$IMAGE") feed=()
  if [ "$SOURCE" != file ]; then
    src=(- --name image.bin --spool "$WORK")
    [ "$SOURCE" = stdin-bounded ] && src+=(--size "$BYTES" --spool-max 64M)
    # shellcheck disable=SC2016  # expanded by the inner bash
    feed=(bash -c 'cat "$0" | exec "$@"' "$IMAGE")
  fi
  run_sender tx "${feed[@]}" "$SHOAL" send "${src[@]}" --group "$SHOAL_GROUP" --iface v0 --listen "$SHOAL_CTRL" \
    "${extra[@]}" --min-receivers "$NRX" --max-wait 30s --key-file "$WORK/shoal.key" \
    --json "$RUN/tx.json" --no-progress $SHOAL_ARGS
  C1=$(counters)
  wait_receivers 10
  # From the sender's summary: repair (multicast reaches every receiver, unicast one), shoal's own
  # count of lost symbols, and the frames it sent (for the cap's drops inside GSO batches).
  local stats repair repair_rx sent mcast note capf
  stats=$(jq -r --argjson n "$NRX" '
      (.receivers // []) as $r | (.repair_bytes_multicast // 0) as $m |
      ([$r[].repair_bytes_unicast] | add // 0) as $u |
      [ ($m + $u), ($m + $u / $n | floor), (.frames_sent // 0), $m,
        "passes=\(.passes) data_s=\(.seconds * 1000 | round / 1000) mcast=\($m) ucast=\($u) lost_syms=\([$r[].symbols_lost] | map(tostring) | join("/"))\(if .spool_peak_bytes then " spool_peak=\(.spool_peak_bytes)" else "" end)" ]
      | map(tostring) | join("\t")' "$RUN/tx.json" 2>/dev/null) || stats=$'-\t-\t0\t-\tno-json'
  IFS=$'\t' read -r repair repair_rx sent mcast note <<<"$stats"
  # Frames the cap dropped = frames sent - UDP frames that reached the bridge (shoal's only UDP).
  capf=$(awk -v c0="$C0" -v c1="$C1" -v sent="$sent" 'BEGIN { split(c0, a, " "); split(c1, b, " ");
    if (b[2] - a[2] == 0) { print 0; exit }
    d = sent - (b[5] - a[5]); print (d > 0) ? d : 0 }')
  check_copies "${outs[@]}"
  MCAST_REPAIR=$mcast CAP_FRAMES=$capf write_record "$COPIES_OK" "$repair" "$repair_rx" 1408 "$note"
}

run_udpcast() {   # $1 = --max-bitrate
  local rate=$1 k outs=() extra=()
  [ "$rate" = none ] || extra=(--max-bitrate "$rate")
  # The bed's addresses have no broadcast address set, so the rendez-vous uses 224.0.0.1 (udpcast's
  # own choice when ttl > 1) instead of the default broadcast.
  for k in $(seq 1 "$NRX"); do
    start_bg "rx$k" "rx$k" udp-receiver --file "$RUN/rx$k.img" --interface v0 --nokbd \
      --portbase "$UDPCAST_PORTBASE" --mcast-rdv-address 224.0.0.1
    outs+=("$RUN/rx$k.img")
  done
  sleep "$WAIT_READY"
  C0=$(counters)
  run_sender tx udp-sender --file "$IMAGE" --interface v0 --min-receivers "$NRX" --nokbd \
    --portbase "$UDPCAST_PORTBASE" --mcast-rdv-address 224.0.0.1 --mcast-data-address "$UDPCAST_DATA" \
    "${extra[@]}"
  C1=$(counters)
  wait_receivers 10
  # udp-sender's last statistics line: "bytes= 33 554 432  re-xmits=0001070 (  4.6%) ...".
  local rexmit
  rexmit=$(tr '\r' '\n' <"$RUN/tx.log" | grep -o 're-xmits=[0-9]*' | tail -1 | cut -d= -f2 | sed 's/^0*//') || true
  rexmit=${rexmit:-0}
  # Retransmissions go to the group: every receiver gets each one.
  check_copies "${outs[@]}"
  write_record "$COPIES_OK" "$((rexmit * 1456))" "$((rexmit * 1456))" 1456 "rexmits=$rexmit"
}

run_uftp() {   # $1 = -R in Kbit/s
  local rate=$1 k outs=() ids=() extra=()
  [ "$rate" = none ] || extra=(-R "$rate")
  for k in $(seq 1 "$NRX"); do
    mkdir -p "$RUN/d$k"
    # -d: foreground, log to stderr. The client id is fixed so the sender can wait for exactly these.
    start_bg "rx$k" "rx$k" uftpd -d -B 4194304 -D "$RUN/d$k" -I v0 -M "$UFTP_PUB" -U "0x0000000$k" -q
    outs+=("$RUN/d$k/$(basename "$IMAGE")")
    ids+=("0x0000000$k")
  done
  sleep "$WAIT_READY"
  C0=$(counters)
  # -H: closed group, so the sender starts as soon as these clients registered (like --min-receivers)
  # and exits once all of them completed.
  run_sender tx uftp -B 4194304 "${extra[@]}" -I v0 -M "$UFTP_PUB" -P "$UFTP_PRIV" \
    -H "$(IFS=,; echo "${ids[*]}")" "$IMAGE"
  C1=$(counters)
  # uftpd is a daemon: wait until each client closed the file and confirmed the group, then stop it.
  for _ in $(seq 1 100); do
    local done=0
    for k in $(seq 1 "$NRX"); do grep -q "Group file transfer confirmed\|Group complete" "$RUN/rx$k.log" 2>/dev/null && done=$((done + 1)); done
    ((done == NRX)) && break
    sleep 0.05
  done
  stop_receivers
  local completed passes
  completed=$(grep -c "Status: Completed" "$RUN/tx.log" || true)
  passes=$(grep -c "^Starting pass" "$RUN/tx.log" || true)
  # A client is done when it closed the file: the local-time stamp of its log's first "done file close"
  # ("2026/12/05 20:14:45.898322: [group/...]: done file close"), as epoch seconds into rxK.done.
  local stamp
  for k in $(seq 1 "$NRX"); do
    stamp=$(awk '/: done file close$/ { print $1, substr($2, 1, length($2) - 1); exit }' "$RUN/rx$k.log" 2>/dev/null) || true
    [ -n "$stamp" ] && date -d "$stamp" +%s.%N >"$RUN/rx$k.done" 2>/dev/null || true
  done
  check_copies "${outs[@]}"
  RXEXIT=0 write_record "$COPIES_OK" "-" "-" 1300 "completed=$completed passes=$passes"
}

run_iperf() {   # $1 = -b (UDP payload bits/s)
  local rate=$1 k
  for k in $(seq 1 "$NRX"); do
    # -1: serve one client, then exit. -w 4M like uftp's -B (the kernel doubles it).
    start_bg "rx$k" "rx$k" iperf -s -u -B "$IPERF_GROUP%v0" -p "$IPERF_PORT" -1 -w 4M -l "$IPERF_LEN" -y C
  done
  "$TESTBED" wait-joined "$PREFIX" "$IPERF_GROUP" "$NRX" 10 >&2 || true
  sleep "$WAIT_READY"
  C0=$(counters)
  run_sender tx iperf -c "$IPERF_GROUP" -u -T 1 -p "$IPERF_PORT" -b "$rate" -l "$IPERF_LEN" -n "$BYTES" -y C
  C1=$(counters)
  wait_receivers 5
  # Each server's CSV line: ...,interval,bytes,bits/s,jitter,lost,total,percent,out-of-order.
  # Ceiling = the mean rate a receiver got; wall = the mean receive interval. A server prints its line
  # only once it saw the client's end-of-test datagrams; when the cap or the loss rule drops them all,
  # it still waits when we stop it, and that receiver has no report.
  local stats
  stats=$(cat "$RUN"/rx*.log 2>/dev/null | awk -F, 'NF >= 14 && $12 > 0 {
      n++; bps += $9; secs += $8 * 8 / $9; lost += $11; total += $12 }
    END { if (n) printf "%.1f\t%.2f\t%d\t%.3f", bps / n / 1e6, lost * 100 / total, n, secs / n
          else printf "-\t-\t0\t-" }')
  local mbps lossp nrep wall
  IFS=$'\t' read -r mbps lossp nrep wall <<<"$stats"
  RX1_OK=- RXEXIT=0 RXTIMES=0 write_record "$nrep" "-" "-" "$IPERF_LEN" "loss%=$lossp reports=$nrep" "$wall" "$mbps"
}

# run_tool TOOL DIR RATE: runs one tool once; its record (without cond/tool/run/rate) is DIR/record.
run_tool() {
  RUN=$2 RXEXIT=1 RX1_OK=-
  "run_$1" "$3"
}
