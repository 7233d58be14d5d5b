#!/usr/bin/env bash
# ctest e2e_static_binary (label e2e): checks the -DSHOAL_STATIC=ON build (packaging/static/static.cmake)
# when one exists, and builds nothing:
#  - ldd: fully static, or needs nothing beyond glibc (libc, libm, the loader) and ISA-L's libisal.so.2;
#  - `shoal --version` runs, has no DPDK transport, and is the same version as the main build's binary;
#  - as root: in an otherwise empty chroot that holds only the binary and the libraries ldd names (what
#    scripts/initramfs.sh puts in an initramfs), `shoal --version`, `shoal keygen` and `shoal selfcheck`
#    (an FEC round trip through ISA-L) run.
# usage: check-static.sh STATIC_BINARY SOURCE_DIR MAIN_BINARY
# Skips (77) when STATIC_BINARY does not exist: build it with
#   cmake -S . -B build-static -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_STATIC=ON \
#         -DSHOAL_TESTS=OFF -DSHOAL_BENCH=OFF && cmake --build build-static --target shoal
STATIC=${1:-}
MAIN=${3:-}
if [ ! -x "$STATIC" ]; then
  echo "SKIP: no static build at '$STATIC' (see packaging/static/check-static.sh for the command)"
  exit 77
fi
source "$2/tests/e2e/lib.sh"
e2e_init static "$STATIC" "$2"
need_cmd ldd file strip

log "$(file -b "$STATIC" | cut -d, -f1-4)"
deps=$(ldd "$STATIC" 2>&1) || true
if grep -qE 'not a dynamic executable|statically linked' <<<"$deps"; then
  pass "fully static (ldd: $deps)"
else
  while read -r name _; do
    case $name in
      linux-vdso.so.1 | libc.so.6 | libm.so.6 | /lib64/ld-linux-x86-64.so.2 | libisal.so.2) pass "needs $name (allowed)" ;;
      *) fail "needs $name: SHOAL_STATIC should have linked it statically or header-only" ;;
    esac
  done < <(sed 's/^\s*//' <<<"$deps")
fi
strip -o "$WORK/shoal" "$STATIC"
log "size: $(stat -c %s "$STATIC") bytes, $(stat -c %s "$WORK/shoal") stripped"

version=$("$STATIC" --version 2>&1)
expect "--version runs: $version" grep -q '^shoal [0-9]' <<<"$version"
expect "no DPDK transport in the static build" grep -q 'DPDK transport: no' <<<"$version"
if [ -x "$MAIN" ]; then
  expect_eq "version" "$(awk '{print $2}' <<<"$version")" "$("$MAIN" --version | awk '{print $2}')"
fi

if [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null; then
  root=$WORK/root
  mkdir -p "$root/dev" "$root/tmp"
  cp "$WORK/shoal" "$root/shoal"
  for lib in $(grep -oE '/[^ ]+' <<<"$deps"); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  expect "runs in a chroot with only its libraries: --version" chroot "$root" /shoal --version
  expect "... keygen" bash -c "chroot '$root' /shoal keygen >'$WORK/key' && test -s '$WORK/key'"
  expect "... selfcheck (FEC round trip)" chroot "$root" /shoal selfcheck
else
  log "not root (or no chroot): the empty-chroot run is skipped"
fi
e2e_finish
