#!/usr/bin/env bash
# shoal's multicast test bed on one machine: 1 sender + N receivers in network namespaces, joined by a
# Linux bridge that lives in its own namespace (nothing touches the root namespace's network).
#
#   PREFIX-br  : bridge br0 198.18.0.254/24, IGMP snooping + querier, IGMPv3; ports ptx, prx1..prxN
#   PREFIX-tx  : veth v0 198.18.0.1/24        <-> PREFIX-br:ptx
#   PREFIX-rxK : veth v0 198.18.0.(100+K)/24  <-> PREFIX-br:prxK     (K = 1..N, N <= 64)
# Every bed uses the same addresses; they cannot clash because each bed has its own namespaces. Interface
# names are fixed and short (<= 5 chars), so no PREFIX can push them past the 15-character limit.
#
# usage: testbed.sh up PREFIX N [wire|gso]  create (recreate if it exists). wire (default): the sender's
#                                     veth cuts UDP GSO batches into MTU-sized datagrams, as a NIC would, so
#                                     loss and cap act per datagram. gso: batches cross the bridge whole
#                                     (fast, but loss/cap then hit whole batches of up to 64 datagrams).
#        testbed.sh down PREFIX                remove the bed; kills only processes inside its namespaces
#        testbed.sh loss PREFIX K|all PERMILLE random drop of UDP toward receiver K (or all), per mille
#        testbed.sh noloss PREFIX
#        testbed.sh cap PREFIX RATE [BURST]    cap what the sender puts on the wire (all of it): RATE like
#                                              300mbit, 1gbit, 800kbit; BURST bytes (default 131072), excess
#                                              dropped. `cap PREFIX off` removes it
#        testbed.sh portcap PREFIX K RATE|off [BURST] [LIMIT]  limit the bridge port toward receiver K
#                                              (a slower switch port): RATE as for cap, BURST bytes
#                                              (default 32768), LIMIT bytes queued (default 262144, a
#                                              switch port's buffer), excess dropped. `off` removes it
#        testbed.sh exec PREFIX NODE cmd...    run cmd in NODE = tx | rx1..rxN | br | rt | far | sS | sSnK
#        testbed.sh wait-joined PREFIX GROUP COUNT [SECONDS]  wait (default 10 s) until the bridge's
#                                              snooping table lists GROUP on COUNT receiver ports
#        testbed.sh far PREFIX                 add a receiver on ANOTHER subnet: PREFIX-far (198.19.0.10/24,
#                                              node "far") behind a router PREFIX-rt (198.18.0.253 on the
#                                              bridge, 198.19.0.1). Unicast is routed, multicast is not
#                                              (no multicast routing daemon), as between two VLANs
#        testbed.sh segment PREFIX S N         add L2 segment S (1..9) behind the router: bridge PREFIX-sS
#                                              (198.18.S.254, snooping + querier), nodes PREFIX-sSnK
#                                              (198.18.S.(100+K), K = 1..N, N <= 16), router 198.18.S.253.
#                                              Unicast is routed, multicast is not: a relay's segment
#        testbed.sh status PREFIX
# Exit status 77 (the usual "skipped") when not root or when iproute2 / netns support is missing.
#
# Why the cap is a tbf with a tiny queue on the sender's veth (PREFIX-tx v0), not an nftables policer:
# a switch enforces its multicast limit once per frame, before copying it to the receiver ports, with a
# small burst, and drops the excess. So every receiver must lose the same frames, and a sender that
# overshoots must see loss, not back-pressure. nft `limit rate over N bytes/second` drops the right
# frames in the long run, but its byte bucket holds one whole second of traffic plus the burst (kernel
# nft_limit: tokens_max = unit * (rate + burst) / rate; measured here: ~1 s of excess at start), so it
# cannot check a pacer's burst bound; a per-receiver-port rule in the forward hook would also drop
# different frames at each receiver. tc's police action would be ideal but this kernel lacks act_police.
# tbf counts exact bytes (with Ethernet header) and its burst; `limit` = burst keeps the queue at a
# switch-buffer size, so excess is dropped within one burst time, and it stays far below the socket's
# send buffer, so the sender's socket never blocks on it. It sits before the bridge: one bucket for
# all receivers. Loss, by contrast, is per receiver port (nftables numgen in the forward hook).
#
# Why portcap is a tbf on the bridge's port prxK (egress, toward receiver K) with a 256 KiB queue: it is
# a switch port slower than the rest (or a congested one). A switch has no back-pressure toward a
# multicast sender: what its port cannot send goes into that port's egress buffer and the excess is
# dropped, for that receiver only, while the other ports carry the group at full rate. Commodity switches
# share a few MiB of packet buffer among all their ports, so one congested port holds some hundreds of
# KiB: 256 KiB, ~42 ms at 50 Mbit/s, absorbs a burst but not a sustained excess. A limit of seconds of
# traffic would model bufferbloat and hide the loss; limit = burst (as on the cap) would drop most of
# any burst, which a port buffer does not. The port's traffic includes the receiver's unicast (control,
# unicast repair), as on a real port. `down` removes it with the bridge's namespace.
set -euo pipefail

SUBNET=198.18.0
MAX_N=64
STEP_TIMEOUT=10   # seconds; bounds every external command so a wedged kernel call cannot hang a test

die() { echo "testbed: $*" >&2; exit 1; }
skip() { echo "testbed: SKIP: $*" >&2; exit 77; }
usage() { sed -n '/^# usage:/,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
t() { timeout "$STEP_TIMEOUT" "$@"; }

preflight() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, bridges, nftables and tc need CAP_NET_ADMIN)"
  command -v ip >/dev/null || skip "iproute2 ('ip') is not installed"
  ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here (no network namespace support?)"
}

check_prefix() {
  [[ ${1:-} =~ ^[A-Za-z0-9][A-Za-z0-9_]{0,23}$ ]] ||
    die "PREFIX '${1:-}' must be 1-24 characters of [A-Za-z0-9_], starting with a letter or digit"
}

own_namespaces() {   # the namespaces of bed $1, and only those
  ip netns list | awk '{print $1}' | grep -E "^$1-(br|tx|rx[0-9]+|rt|far|s[1-9]|s[1-9]n[0-9]+)$" || true
}

node_setup() {   # $1=netns $2=address
  local ns=$1 addr=$2
  t ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  t ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.v0.rp_filter=0
  # IGMPv3: no report suppression, so a snooping bridge sees every receiver's join.
  t ip netns exec "$ns" sysctl -qw net.ipv4.igmp_max_memberships=64 \
    net.ipv4.conf.all.force_igmp_version=3 net.ipv4.conf.default.force_igmp_version=3 \
    net.ipv4.conf.v0.force_igmp_version=3
  t ip -n "$ns" link set lo up
  t ip -n "$ns" link set lo multicast on
  t ip -n "$ns" addr add "$addr/24" dev v0
  t ip -n "$ns" link set v0 up
  t ip -n "$ns" route add 224.0.0.0/4 dev v0   # no default route: multicast leaves via the veth
}

nft_base() {   # $1=prefix: one table per bed, its loss chain in the bridge's forward hook
  printf '%s\n' "table bridge shoal {" \
    "  chain loss { type filter hook forward priority 0; policy accept; }" "}" |
    t ip netns exec "$1-br" nft -f -
}

up() {
  local p=$1 n=$2 mode=${3:-wire} k
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= MAX_N)) || die "N must be 1..$MAX_N, got '$n'"
  [[ $mode == wire || $mode == gso ]] || die "mode must be 'wire' or 'gso', got '$mode'"
  command -v nft >/dev/null || skip "nftables ('nft') is not installed (apt-get install nftables)"
  down "$p"
  PARTIAL_BED=$p   # any failure from here on (set -e, die, timeout) removes the half-built bed
  trap 'if [ -n "${PARTIAL_BED:-}" ]; then echo "testbed: up failed, removing the partial bed $PARTIAL_BED" >&2; down "$PARTIAL_BED"; fi' EXIT
  t ip netns add "$p-br"
  t ip netns exec "$p-br" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  t ip -n "$p-br" link set lo up
  t ip -n "$p-br" link add br0 type bridge mcast_snooping 1 mcast_querier 1 mcast_igmp_version 3 \
    mcast_query_interval 1000 mcast_query_response_interval 500 stp_state 0 forward_delay 0
  t ip -n "$p-br" addr add "$SUBNET.254/24" dev br0   # source address of the bridge's IGMP queries
  t ip -n "$p-br" link set br0 up
  nft_base "$p"

  t ip netns add "$p-tx"
  t ip link add v0 netns "$p-tx" type veth peer name ptx netns "$p-br"
  t ip -n "$p-br" link set ptx master br0 up
  node_setup "$p-tx" "$SUBNET.1"
  if [ "$mode" = wire ]; then
    # Software segmentation at the sender's veth, like a NIC's UDP segmentation offload on a real wire.
    t ip netns exec "$p-tx" ethtool -K v0 tx-udp-segmentation off >/dev/null 2>&1 ||
      t ip -n "$p-tx" link set v0 gso_max_segs 1 ||
      die "cannot force datagram-sized frames on $p-tx:v0 (need ethtool or iproute2 gso_max_segs)"
  fi
  for k in $(seq 1 "$n"); do
    t ip netns add "$p-rx$k"
    t ip link add v0 netns "$p-rx$k" type veth peer name "prx$k" netns "$p-br"
    t ip -n "$p-br" link set "prx$k" master br0 up
    node_setup "$p-rx$k" "$SUBNET.$((100 + k))"
  done
  PARTIAL_BED=
  echo "testbed: $p up: tx 198.18.0.1, rx1..rx$n 198.18.0.101..$((100 + n)), mode $mode"
}

router() {   # the router PREFIX-rt on the main bridge (198.18.0.253), made once
  local p=$1
  ip netns list | awk '{print $1}' | grep -qx "$p-rt" && return 0
  t ip netns add "$p-rt"
  t ip netns exec "$p-rt" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv4.ip_forward=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  t ip -n "$p-rt" link set lo up
  t ip link add v0 netns "$p-rt" type veth peer name prt netns "$p-br"
  t ip -n "$p-br" link set prt master br0 up
  t ip -n "$p-rt" addr add "$SUBNET.253/24" dev v0
  t ip -n "$p-rt" link set v0 up
}

far() {
  local p=$1
  need_bed "$p"
  ip netns list | awk '{print $1}' | grep -qx "$p-far" && die "bed $p has its far receiver already"
  router "$p"
  t ip netns add "$p-far"
  t ip link add v1 netns "$p-rt" type veth peer name v0 netns "$p-far"
  t ip -n "$p-rt" addr add 198.19.0.1/24 dev v1
  t ip -n "$p-rt" link set v1 up
  node_setup "$p-far" 198.19.0.10
  t ip -n "$p-far" route add default via 198.19.0.1
  t ip -n "$p-tx" route add 198.19.0.0/24 via "$SUBNET.253"
  echo "testbed: $p far receiver 198.19.0.10 behind router $SUBNET.253 (no multicast routing)"
}

segment() {   # $1=prefix $2=S $3=N: another L2 segment behind the router, multicast not routed
  local p=$1 s=$2 n=$3 k net
  need_bed "$p"
  [[ $s =~ ^[1-9]$ ]] || die "S must be 1..9, got '$s'"
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 16)) || die "N must be 1..16, got '$n'"
  ip netns list | awk '{print $1}' | grep -qx "$p-s$s" && die "bed $p has segment $s already"
  net=198.18.$s
  router "$p"
  t ip netns add "$p-s$s"
  t ip netns exec "$p-s$s" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  t ip -n "$p-s$s" link set lo up
  t ip -n "$p-s$s" link add br0 type bridge mcast_snooping 1 mcast_querier 1 mcast_igmp_version 3 \
    mcast_query_interval 1000 mcast_query_response_interval 500 stp_state 0 forward_delay 0
  t ip -n "$p-s$s" addr add "$net.254/24" dev br0
  t ip -n "$p-s$s" link set br0 up
  t ip link add "s$s" netns "$p-rt" type veth peer name prt netns "$p-s$s"
  t ip -n "$p-s$s" link set prt master br0 up
  t ip -n "$p-rt" addr add "$net.253/24" dev "s$s"
  t ip -n "$p-rt" link set "s$s" up
  for k in $(seq 1 "$n"); do
    t ip netns add "$p-s${s}n$k"
    t ip link add v0 netns "$p-s${s}n$k" type veth peer name "p$k" netns "$p-s$s"
    t ip -n "$p-s$s" link set "p$k" master br0 up
    node_setup "$p-s${s}n$k" "$net.$((100 + k))"
    t ip -n "$p-s${s}n$k" route add default via "$net.253"
  done
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$p-(tx|rx[0-9]+)$"); do
    t ip -n "$ns" route add "$net.0/24" via "$SUBNET.253"   # the main segment reaches it by unicast
  done
  echo "testbed: $p segment $s: nodes s${s}n1..s${s}n$n $net.101..$((100 + n)) behind router $net.253 (no multicast routing)"
}

down() {
  local p=$1 ns pid
  for ns in $(own_namespaces "$p"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 20); do   # up to 2 s for them to exit, then SIGKILL
      [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
      sleep 0.1
    done
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    t ip netns del "$ns" || echo "testbed: could not delete namespace $ns" >&2
  done
}

need_bed() { ip netns list | awk '{print $1}' | grep -qx "$1-br" || die "no test bed '$1' (run: $0 up $1 N)"; }

loss() {   # $1=prefix $2=K|all $3=per mille
  local p=$1 who=$2 pm=$3 port
  need_bed "$p"
  [[ $pm =~ ^[0-9]+$ ]] && ((pm <= 1000)) || die "PERMILLE must be 0..1000, got '$pm'"
  if [ "$who" = all ]; then port='prx*'
  elif [[ $who =~ ^[0-9]+$ ]]; then port="prx$who"
    t ip -n "$p-br" link show "$port" >/dev/null 2>&1 || die "bed $p has no receiver $who"
  else die "loss target must be a receiver number or 'all', got '$who'"
  fi
  # Replaces any loss rule: one random draw per datagram and per receiver port (independent losses).
  printf '%s\n' "flush chain bridge shoal loss" \
    "add rule bridge shoal loss oifname \"$port\" meta l4proto udp numgen random mod 1000 < $pm counter drop" |
    t ip netns exec "$p-br" nft -f -
}

noloss() { need_bed "$1"; t ip netns exec "$1-br" nft flush chain bridge shoal loss; }

cap() {   # $1=prefix $2=RATE|off [$3=burst bytes]
  local p=$1 rate=$2 burst=${3:-131072}
  need_bed "$p"
  if [ "$rate" = off ]; then t ip -n "$p-tx" link show v0 >/dev/null; t tc -n "$p-tx" qdisc del dev v0 root 2>/dev/null || true; return; fi
  [[ $rate =~ ^[0-9]+(kbit|mbit|gbit)$ ]] || die "RATE must look like 800kbit, 300mbit or 1gbit, got '$rate'"
  [[ $burst =~ ^[0-9]+$ ]] && ((burst >= 1600)) || die "BURST must be >= 1600 bytes, got '$burst'"
  # limit = burst: a switch-sized buffer, so excess is dropped within a burst's time, not queued.
  t tc -n "$p-tx" qdisc replace dev v0 root tbf rate "$rate" burst "$burst" limit "$burst"
}

portcap() {   # $1=prefix $2=K $3=RATE|off [$4=burst bytes] [$5=limit bytes]
  local p=$1 k=$2 rate=$3 burst=${4:-32768} limit=${5:-262144} port
  need_bed "$p"
  [[ $k =~ ^[0-9]+$ ]] || die "portcap target must be a receiver number, got '$k'"
  port=prx$k
  t ip -n "$p-br" link show "$port" >/dev/null 2>&1 || die "bed $p has no receiver $k"
  if [ "$rate" = off ]; then t tc -n "$p-br" qdisc del dev "$port" root 2>/dev/null || true; return; fi
  [[ $rate =~ ^[0-9]+(kbit|mbit|gbit)$ ]] || die "RATE must look like 800kbit, 50mbit or 1gbit, got '$rate'"
  [[ $burst =~ ^[0-9]+$ ]] && ((burst >= 1600)) || die "BURST must be >= 1600 bytes, got '$burst'"
  [[ $limit =~ ^[0-9]+$ ]] && ((limit >= burst)) || die "LIMIT must be >= BURST ($burst) bytes, got '$limit'"
  t tc -n "$p-br" qdisc replace dev "$port" root tbf rate "$rate" burst "$burst" limit "$limit"
}

node_exec() {   # $1=prefix $2=node, rest = command
  local p=$1 node=$2
  shift 2
  [[ $node =~ ^(tx|br|rx[0-9]+|rt|far|s[1-9]|s[1-9]n[0-9]+)$ ]] ||
    die "NODE must be tx, br, rxK, rt, far, sS (a segment's bridge) or sSnK, got '$node'"
  ip netns list | awk '{print $1}' | grep -qx "$p-$node" || die "no node $p-$node (see: $0 status $p)"
  (($# > 0)) || die "exec needs a command"
  exec ip netns exec "$p-$node" "$@"
}

joined_ports() {   # receiver ports the snooping bridge forwards GROUP to
  bridge -n "$1-br" mdb show 2>/dev/null | grep -E "port prx[0-9]+ grp $2( |$)" | grep -o "port prx[0-9]*" | sort -u | wc -l
}

wait_joined() {   # $1=prefix $2=group $3=count $4=seconds
  local p=$1 group=$2 count=$3 secs=${4:-10} have=0
  need_bed "$p"
  [[ $group =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "GROUP must be a dotted IPv4 address, got '$group'"
  [[ $count =~ ^[0-9]+$ && $secs =~ ^[0-9]+$ ]] || die "COUNT and SECONDS must be numbers"
  for _ in $(seq 1 $((secs * 10))); do
    have=$(joined_ports "$p" "$group")
    ((have >= count)) && return 0
    sleep 0.1
  done
  die "after ${secs}s only $have of $count receiver ports joined $group (see: $0 status $p)"
}

status() {
  local p=$1 ns
  ip netns list | awk '{print $1}' | grep -qx "$p-br" || { echo "testbed: $p is down"; return 0; }
  echo "namespaces:"; own_namespaces "$p" | sed 's/^/  /'
  for ns in $(own_namespaces "$p"); do
    [ "$ns" = "$p-br" ] && continue
    echo "  $ns: $(ip -n "$ns" -4 -o addr show dev v0 | awk '{print $4}')"
  done
  echo "bridge:"; ip -n "$p-br" -d link show br0 | grep -o "mcast_snooping [01]\|mcast_querier [01]" | sed 's/^/  /'
  echo "multicast groups (mdb):"; bridge -n "$p-br" mdb show | sed 's/^/  /'
  echo "loss (nftables):"; ip netns exec "$p-br" nft list chain bridge shoal loss | grep counter | sed 's/^\s*/  /' || true
  echo "cap (tbf on $p-tx v0):"; tc -n "$p-tx" -s qdisc show dev v0 | grep -A2 tbf | sed 's/^\s*/  /' || true
  echo "port caps (tbf on $p-br receiver ports):"
  tc -n "$p-br" -s qdisc show | awk '/^qdisc tbf .* dev prx[0-9]+ / { n++; print "  " $0; getline; sub(/^ */, ""); print "    " $0 }
    END { if (!n) print "  none" }' || true
}

cmd=${1:-}
[ -n "$cmd" ] || usage
case $cmd in up | down | loss | noloss | cap | portcap | exec | status | wait-joined | far | segment) ;; *) usage ;; esac
preflight
check_prefix "${2:-}"
case $cmd in
  up) (($# >= 3)) || usage; up "$2" "$3" "${4:-wire}" ;;
  down) down "$2" ;;
  far) far "$2" ;;
  segment) (($# == 4)) || usage; segment "$2" "$3" "$4" ;;
  loss) (($# == 4)) || usage; loss "$2" "$3" "$4" ;;
  noloss) noloss "$2" ;;
  cap) (($# >= 3)) || usage; cap "$2" "$3" "${4:-}" ;;
  portcap) (($# >= 4)) || usage; portcap "$2" "$3" "$4" "${5:-}" "${6:-}" ;;
  exec) (($# >= 4)) || usage; node_exec "$2" "$3" "${@:4}" ;;
  status) status "$2" ;;
  wait-joined) (($# >= 4)) || usage; wait_joined "$2" "$3" "$4" "${5:-10}" ;;
esac
