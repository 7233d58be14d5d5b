#!/usr/bin/env bash
# e2e 2: bad inputs. Each must end with a non-zero exit and a message a person can act on (naming the
# path, interface or port at fault); a bad receiver must not stop the good ones. Sessions run on this
# host (control on 127.0.0.1, multicast with TTL 0 + loopback), so no root is needed.
source "$(dirname "$0")/lib.sh"
e2e_init bad "$@"
need_cmd timeout sha256sum ss ip jq

loopback_session 128
make_object "$WORK/object.bin" 4
make_key "$WORK/key"
make_key "$WORK/other.key"

# loop_sender NAME MIN_RECEIVERS OBJECT [extra send options]: a sender on fresh ports; sets PORT.
loop_sender() {
  local name=$1 n=$2 object=$3
  shift 3
  local gport
  PORT=$(free_port) && gport=$(free_port) || { fail "no free port"; return 1; }
  run_bg "$name" - 60 "$SHOAL" send "$object" --group "$GROUP:$gport" --ttl 0 --loopback \
    --listen "127.0.0.1:$PORT" --rate 200M --min-receivers "$n" --max-wait 8s --no-progress \
    --json "$WORK/$name.json" "$@"
}
loop_receiver() {   # NAME OUT [extra recv options]: joins the sender on $PORT
  local name=$1 out=$2
  shift 2
  run_bg "$name" - 60 "$SHOAL" recv --sender "127.0.0.1:$PORT" --out "$out" --name "$name" \
    --connect-timeout 20s --json "$WORK/$name.json" "$@"
}

log "case: object file does not exist"
loop_sender missing 1 "$WORK/no-such-object.bin" --key-file "$WORK/key"
expect_rc missing 2
expect_log missing "no-such-object\.bin" "names the missing path"

log "case: object file is unreadable"
cp "$WORK/object.bin" "$WORK/secret.bin"
chmod 000 "$WORK/secret.bin"
if [ "$(id -u)" -ne 0 ]; then
  loop_sender unreadable 1 "$WORK/secret.bin" --insecure
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$SHOAL"; then
  # root reads anything: this one sender runs as nobody (the key file is root's, hence --insecure)
  run_bg unreadable - 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$SHOAL" send "$WORK/secret.bin" \
    --group "$GROUP:$(free_port)" --ttl 0 --loopback --listen "127.0.0.1:$(free_port)" --insecure --no-progress
else
  echo "SKIP (this case only): running as root and cannot drop to nobody to make a file unreadable"
fi
if [ -n "${E2E_PID[unreadable]:-}" ]; then
  expect_rc unreadable 2
  expect_log unreadable "secret\.bin.*(permission|denied)" "names the path and the permission problem"
fi

log "case: object is a character device (directories are sent as trees: tests/e2e/tree.sh)"
loop_sender ischr 1 /dev/null --key-file "$WORK/key"
expect_rc ischr 2
expect_log ischr "/dev/null" "names the path"

log "case: sender --iface nosuch0"
loop_sender noiface 1 "$WORK/object.bin" --key-file "$WORK/key" --iface nosuch0
expect_rc noiface 2
expect_log noiface "nosuch0" "names the interface"

log "case: receiver --iface nosuch0"
loop_sender noiface-tx 1 "$WORK/object.bin" --key-file "$WORK/key"
mkdir -p "$WORK/noiface-rx"
loop_receiver noiface-rx "$WORK/noiface-rx/object.bin" --key-file "$WORK/key" --iface nosuch0
expect_rc_failed noiface-rx
expect_log noiface-rx "nosuch0" "names the interface"
expect_no_file "$WORK/noiface-rx/object.bin"
expect_no_temp "$WORK/noiface-rx"
expect_rc noiface-tx 1

log "case: control port already in use (by a first sender)"
loop_sender first 1 "$WORK/object.bin" --key-file "$WORK/key"
if wait_log first "waiting for" 20; then
  run_bg second - 60 "$SHOAL" send "$WORK/object.bin" --group "$GROUP:$(free_port)" --ttl 0 --loopback \
    --listen "127.0.0.1:$PORT" --key-file "$WORK/key" --no-progress
  expect_rc second 2
  expect_log second "in use" "says the port is in use"
  expect_log second "$PORT" "names the port"
else
  fail "the first sender never started listening"
fi
kill_tree "${E2E_PID[first]}" TERM
wait_rc first

log "case: one receiver with the wrong key and one without a key (--insecure); two good ones"
loop_sender wrongkey-tx 2 "$WORK/object.bin" --key-file "$WORK/key"
mkdir -p "$WORK/bad-rx" "$WORK/nokey-rx" "$WORK/good1" "$WORK/good2"
loop_receiver badkey "$WORK/bad-rx/object.bin" --key-file "$WORK/other.key"
expect_rc_failed badkey   # it ends before the good receivers start, so it cannot take their place
expect_log badkey "key" "mentions the key"
loop_receiver keyless "$WORK/nokey-rx/object.bin" --insecure
expect_rc_failed keyless
expect_log keyless "key" "mentions the key"
loop_receiver good1 "$WORK/good1/object.bin" --key-file "$WORK/key"
loop_receiver good2 "$WORK/good2/object.bin" --key-file "$WORK/key"
expect_rc wrongkey-tx 0
expect_log wrongkey-tx "refused" "the sender logged that it refused a receiver"
expect_eq "sender JSON ok" "$(json "$WORK/wrongkey-tx.json" .ok)" 2
expect_eq "sender JSON failed" "$(json "$WORK/wrongkey-tx.json" .failed)" 0
expect_eq "sender JSON lists the wrong-key receiver" "$(sender_outcome "$WORK/wrongkey-tx.json" badkey)" ""
expect_eq "sender JSON lists the keyless receiver" "$(sender_outcome "$WORK/wrongkey-tx.json" keyless)" ""
for r in good1 good2; do
  expect_rc "$r" 0
  expect_same_sha "$WORK/object.bin" "$WORK/$r/object.bin"
done
for d in bad-rx nokey-rx; do
  expect_no_file "$WORK/$d/object.bin"
  expect_no_temp "$WORK/$d"
done

log "case: key file missing"
loop_sender nokey-tx 1 "$WORK/object.bin" --key-file "$WORK/no-such.key"
expect_rc nokey-tx 2
expect_log nokey-tx "no-such\.key" "names the key file"
PORT=$(free_port)
loop_receiver nokey-rx "$WORK/nokey-rx.bin" --key-file "$WORK/no-such.key"
expect_rc nokey-rx 2
expect_log nokey-rx "no-such\.key" "names the key file"

log "case: --key-file and --insecure together"
loop_sender both-tx 1 "$WORK/object.bin" --key-file "$WORK/key" --insecure
expect_rc both-tx 2
expect_log both-tx "key-file.*insecure" "names the conflicting options"
PORT=$(free_port)
loop_receiver both-rx "$WORK/both-rx.bin" --key-file "$WORK/key" --insecure
expect_rc both-rx 2
expect_log both-rx "key-file.*insecure" "names the conflicting options"

log "case: receiver --out in a directory that does not exist"
loop_sender nodir-tx 1 "$WORK/object.bin" --key-file "$WORK/key"
loop_receiver nodir-rx "$WORK/no-such-dir/object.bin" --key-file "$WORK/key"
expect_rc_failed nodir-rx
expect_log nodir-rx "no-such-dir" "names the directory"
expect_no_file "$WORK/no-such-dir"
expect_rc nodir-tx 1

log "case: --max-memory below what the session's blocks need (a hard limit: refused, never exceeded)"
mkdir -p "$WORK/mem"
loop_sender mem-tx 1 "$WORK/object.bin" --key-file "$WORK/key"
loop_receiver mem-rx "$WORK/mem/object.bin" --key-file "$WORK/key" --max-memory 1M
expect_rc_failed mem-rx
expect_log mem-rx "--max-memory 1\.0 MiB is too small.*pass --max-memory [0-9]+M or more" \
  "names the limit and the fix"
expect_no_file "$WORK/mem/object.bin"
expect_no_temp "$WORK/mem"
expect_rc mem-tx 1

log "case: security options that cannot work"
loop_sender badallow 1 "$WORK/object.bin" --key-file "$WORK/key" --allow 198.18.0.300
expect_rc badallow 2
expect_log badallow "198\.18\.0\.300.*CIDR" "names the bad --allow entry and the expected form"
loop_sender cnnotls 1 "$WORK/object.bin" --key-file "$WORK/key" --allow 'cn:node*'
expect_rc cnnotls 2
expect_log cnnotls "certificate names need TLS" "says cn: needs TLS"
loop_sender encnoauth 1 "$WORK/object.bin" --key-file "$WORK/key" --encrypt --no-frame-auth
expect_rc encnoauth 2
expect_log encnoauth "--encrypt needs authenticated frames" "names the contradiction"
loop_sender badtls 1 "$WORK/object.bin" --tls-cert "$WORK/no.pem" --tls-key "$WORK/key" --tls-ca "$WORK/key"
expect_rc badtls 2
expect_log badtls "--tls-cert '.*no\.pem'" "names the certificate file"
# A group outside 239.0.0.0/8 with a TTL above 1 may leave the organisation: warned (the run itself
# ends when nobody joins). The frames would leave by this host's default route, so the symbol size
# must fit its MTU, whatever that is (1024-byte symbols fit any MTU from 1100 bytes).
PORT=$(free_port)
run_bg ttlwarn - 30 "$SHOAL" send "$WORK/object.bin" --group 224.3.3.3:$(free_port) --ttl 4 --loopback \
  --listen "127.0.0.1:$PORT" --max-wait 1s --no-progress --key-file "$WORK/key" --symbol-size 1024
expect_rc ttlwarn 1
expect_log ttlwarn "outside 239\.0\.0\.0/8.*--ttl is 4" "warns about the scope of the group"

log "case: --hosts names a host that never joins; the one that joined is served, the send fails"
printf '# the rollout\nrxh1\nghost-node  # never boots\n' >"$WORK/hosts"
loop_sender hostsrun 1 "$WORK/object.bin" --key-file "$WORK/key" --hosts "$WORK/hosts"  # 8 s wait
loop_receiver rxh1 "$WORK/rxh1.bin" --key-file "$WORK/key"
expect_rc rxh1 0
expect_same_sha "$WORK/object.bin" "$WORK/rxh1.bin"
expect_rc hostsrun 1
expect_log hostsrun "expected host ghost-node did not join" "names the host that never joined"
expect_eq "sender JSON hosts_missing" "$(jq -c .hosts_missing "$WORK/hostsrun.json")" '["ghost-node"]'
expect_eq "sender JSON ok" "$(jq .ok "$WORK/hostsrun.json")" 1
expect_eq "sender JSON failed" "$(jq .failed "$WORK/hostsrun.json")" 1
run_bg twowaits - 10 "$SHOAL" send "$WORK/object.bin" --max-wait 1s --max-wait 2s
expect_rc twowaits 2  # a command-line mistake is a usage error, as every bad input is
printf 'rxh1 rxh2\n' >"$WORK/badhosts"
loop_sender badhosts 1 "$WORK/object.bin" --key-file "$WORK/key" --hosts "$WORK/badhosts"
expect_rc badhosts 2
expect_log badhosts "badhosts' line 1.*one name, address or certificate name per line" "names the line"

log "case: recvd --status in a directory that does not exist"
run_bg badstatus - 20 "$SHOAL" recvd --insecure --map "*=$WORK/" --announce "$GROUP:$(free_port)" \
  --status "$WORK/no-such-dir/status.json"
expect_rc badstatus 2
expect_log badstatus "--status: .*no-such-dir/status\.json" "names the option and the path"

e2e_finish
