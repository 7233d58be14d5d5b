# Reads bench/e2e.sh's per-run records (TSV, header line first) and prints one markdown table per
# condition, then the issue's goals checked against the medians. Plain POSIX awk (mawk has no asort).
# Variables: size (bytes), cap_bps, nrx; cap_burst and loss (for the policer and slow conditions'
# titles) default to the values on the records' "# e2e ..." line.
BEGIN { FS = "\t" }
/^# e2e / {
  n = split($0, hw, " ")
  for (i = 1; i <= n; i++) if (split(hw[i], hp, "=") == 2 && !((hp[1]) in hdr)) hdr[hp[1]] = hp[2]
  if (cap_burst == "") cap_burst = hdr["cap_burst"]
  if (loss == "") loss = hdr["loss"]
  next
}
/^#/ { next }
$1 == "cond" { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
  c = $col["cond"]; t = $col["tool"]; k = c SUBSEP t
  if (!(c in seen_c)) { seen_c[c] = 1; conds[++nc] = c }
  if (!(k in runs)) tools[c, ++nt[c]] = t
  r = ++runs[k]
  rate[k] = $col["rate"]
  for (f in col) v[k, f, r] = $col[f]
  # iperf2 without a single server report measured nothing (older records wrote 0 for it).
  if (t == "iperf" && $col["ok"] == 0) v[k, "wall_s", r] = v[k, "goodput_mbps", r] = "-"
  ok[k] += $col["ok"]; copies[k] += $col["copies"]
  if (("rx1_ok" in col) && $col["rx1_ok"] == 1) rx1ok[k]++
  if ($col["sender_rc"] != 0) bad[k]++
  if (t ~ /^shoal/) {   # shoal, shoal-peers; from the note: passes=P data_s=S mcast=B ucast=B lost_syms=a/b/c/d
    note = $col["note"]
    v[k, "setup_s", r] = (isnum(kv(note, "data_s")) && isnum($col["wall_s"])) ? $col["wall_s"] - kv(note, "data_s") : "-"
    v[k, "passes", r] = kv(note, "passes")
    v[k, "mcast", r] = kv(note, "mcast"); v[k, "ucast", r] = kv(note, "ucast")
    n = split(kv(note, "lost_syms"), ls, "/"); s = 0; for (i = 1; i <= n; i++) s += ls[i]
    v[k, "lost_syms", r] = n ? s / n : "-"
    # Against shoal's own count: repair an average receiver got / symbols it says it lost.
    v[k, "own_ratio", r] = (s > 0 && isnum(kv(note, "mcast"))) ? (kv(note, "mcast") + kv(note, "ucast") / n) / (s / n * 1408) : "-"
  }
}
function kv(text, key,    m) {   # value of key=value in a space-separated note
  if (!match(" " text " ", " " key "=[^ ]*")) return "-"
  m = substr(" " text " ", RSTART + length(key) + 2, RLENGTH - length(key) - 2)
  return m
}

function isnum(x) { return x ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ }
# stat(k, field): sets S_n, S_med, S_min, S_max over the numeric values of one field.
function stat(k, f,    i, n, a, j, x) {
  n = 0
  for (i = 1; i <= runs[k]; i++) if (isnum(v[k, f, i])) a[++n] = v[k, f, i] + 0
  for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
  S_n = n
  if (n == 0) return
  S_min = a[1]; S_max = a[n]
  S_med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function cell(k, f, fmt) {
  stat(k, f)
  if (S_n == 0) return "-"
  if (S_n == 1) return sprintf(fmt, S_med)
  return sprintf(fmt " (" fmt "-" fmt ")", S_med, S_min, S_max)
}
function describe(c) {
  if (c == "policer") return "cap " cap_bps / 1e6 " Mbit/s with a " (cap_burst != "" ? cap_burst : "?") \
    "-byte bucket, " (loss != "" ? loss / 10 "%" : "--loss") " loss toward receiver 1 only"
  if (c == "slow") return "cap " cap_bps / 1e6 " Mbit/s, receiver 1's bridge port at cap/6 = " \
    sprintf("%.1f", cap_bps / 6e6) " Mbit/s (tbf, 256 KiB buffer)"
  split(c, p, "-")
  return (p[1] == "capped" ? "cap " cap_bps / 1e6 " Mbit/s" : "no cap") ", " \
    (p[2] == "1" ? "loss on every receiver port" : "no added loss")
}

# one_slow(c): the table of a condition in which receiver 1 is worse off (policer, slow). Fast = the
# latest exit of receivers 2..N; every time is from sender start.
function one_slow(c,    ti, t, k, sha, r1) {
  printf "\n### %s: %s (floor size/cap = %.2f s", c, describe(c), floor_s
  if (c == "slow") printf "; receiver 1's floor size/(cap/6) = %.2f s", floor_s * 6
  printf ")\n\n"
  print "| tool | rate setting | runs | sender exit s | sender exit != 0 | fast receivers' last exit s | fast exit / (size/cap) | receiver 1 exit s | receiver 1 exit / (size/(cap/6)) | receiver 1 copy ok | copies SHA-256 ok | datagrams lost toward receiver 1 | wire bytes / size | shoal multicast repair / size |"
  print "|---|---|---:|---|---:|---|---|---|---|---|---|---|---|---|"
  for (ti = 1; ti <= nt[c]; ti++) {
    t = tools[c, ti]; k = c SUBSEP t
    sha = (t == "iperf") ? "n/a (" ok[k] "/" copies[k] " reports)" : ok[k] "/" copies[k]
    r1 = (t == "iperf") ? "n/a" : rx1ok[k] + 0 "/" runs[k]
    printf "| %s | %s | %d | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t, rate[k], runs[k],
      cell(k, "tx_exit_s", "%.2f"), bad[k] + 0, cell(k, "fast_exit_s", "%.2f"), cell(k, "fast_ratio", "%.2f"),
      cell(k, "rx1_exit_s", "%.2f"), cell(k, "slow_ratio", "%.2f"), r1, sha, cell(k, "rx1_lost", "%.0f"),
      cell(k, "wire_ratio", "%.3f"), cell(k, "mcast_repair_share", "%.4f")
  }
}

END {
  floor_s = size * 8 / cap_bps
  for (ci = 1; ci <= nc; ci++) {
    c = conds[ci]
    if (c == "policer" || c == "slow") { one_slow(c); continue }
    printf "\n### %s: %s", c, describe(c)
    if (c ~ /^capped/) printf " (floor size/cap = %.2f s)", floor_s
    printf "\n\n"
    print "| tool | rate setting | runs | wall s | last receiver exit s | goodput Mbit/s per receiver | copies SHA-256 ok | wire bytes / size | lost datagrams per receiver | repair / lost: per receiver; all receivers | sender exit != 0 |"
    print "|---|---|---:|---|---|---|---|---|---|---|---:|"
    for (ti = 1; ti <= nt[c]; ti++) {
      t = tools[c, ti]; k = c SUBSEP t
      sha = (t == "iperf") ? "n/a (" ok[k] "/" copies[k] " reports)" : ok[k] "/" copies[k]
      printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s; %s | %d |\n", t, rate[k], runs[k],
        cell(k, "wall_s", "%.2f"), cell(k, "rxexit_s", "%.2f"), cell(k, "goodput_mbps", "%.0f"), sha,
        cell(k, "wire_ratio", "%.3f"), cell(k, "lost_per_rx", "%.0f"),
        cell(k, "ratio_rx", "%.2f"), cell(k, "ratio_total", "%.2f"), bad[k] + 0
    }
  }

  print "\n### shoal in detail (median, min-max)\n"
  print "| condition | session start s (wall - data phase) | passes | lost symbols per receiver (shoal's count) | repair / lost by shoal's count | multicast repair bytes | unicast repair bytes (all receivers) |"
  print "|---|---|---|---|---|---|---|"
  for (ci = 1; ci <= nc; ci++) {
    c = conds[ci]; k = c SUBSEP "shoal"
    if (!(k in runs)) continue
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", c, cell(k, "setup_s", "%.2f"), cell(k, "passes", "%d"),
      cell(k, "lost_syms", "%.0f"), cell(k, "own_ratio", "%.2f"), cell(k, "mcast", "%d"), cell(k, "ucast", "%d")
  }

  goals = 0   # the issue's goals are set for the capped-* and uncapped-* conditions only
  for (ci = 1; ci <= nc; ci++) if (((conds[ci] SUBSEP "shoal") in runs) && conds[ci] !~ /^(policer|slow)$/) goals = 1
  if (goals) print "\n### Goals (medians; the range is min-max over runs)\n"
  for (ci = 1; ci <= nc; ci++) {
    c = conds[ci]; k = c SUBSEP "shoal"
    if (!(k in runs) || c == "policer" || c == "slow") continue
    if (c ~ /^capped/) {
      stat(k, "wall_s")
      if (S_n) printf "- %s: shoal wall / (size/cap) = %.3f (%.3f-%.3f); goal <= 1.10: %s\n", c,
        S_med / floor_s, S_min / floor_s, S_max / floor_s, (S_med / floor_s <= 1.10) ? "met" : "NOT met"
    } else {
      ki = c SUBSEP "iperf"
      stat(ki, "goodput_mbps"); ceil = S_n ? S_med : 0
      stat(k, "goodput_mbps")
      if (S_n && ceil > 0) printf "- %s: shoal goodput / iperf2 ceiling = %.0f / %.0f = %.3f; goal >= 0.90: %s\n",
        c, S_med, ceil, S_med / ceil, (S_med / ceil >= 0.90) ? "met" : "NOT met"
    }
    stat(k, "ratio_rx")
    if (S_n) {
      w = S_med; stat(k, "ratio_total")
      printf "- %s: shoal repair / lost = %.2f per receiver, %.2f over all receivers; goal <= 1.5: %s\n",
        c, w, S_med, (w <= 1.5) ? "met (both)" : (S_med <= 1.5 ? "met over all receivers, NOT per receiver" : "NOT met")
    }
    if (ok[k] < copies[k]) printf "- %s: shoal delivered %d of %d copies verified\n", c, ok[k], copies[k]
  }
}
