#!/usr/bin/env bash
# Makes a private CA and certificates for shoal's TLS mode (--tls-cert/--tls-key/--tls-ca):
#   scripts/tls-certs.sh DIR NAME...
# writes DIR/ca.pem (give it to every node as --tls-ca; keep DIR/ca.key offline) and, for each NAME,
# DIR/NAME.pem + DIR/NAME.key with subject CN=NAME (a receiver's CN is what `send --allow cn:...`
# matches). EC P-256 keys, mode 0600. An existing CA in DIR is reused, so more nodes can be added.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DIR NAME..." >&2; exit 2; }
command -v openssl >/dev/null || { echo "tls-certs: needs the openssl command (apt-get install openssl)" >&2; exit 1; }
dir=$1
shift
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -subj "/CN=shoal CA" 2>/dev/null
fi
for name in "$@"; do
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "tls-certs: name '$name' must be [A-Za-z0-9._-]" >&2; exit 2; }
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 825 -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr"
done
echo "tls-certs: CA $dir/ca.pem; certificates for: $*"
