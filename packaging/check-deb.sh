#!/usr/bin/env bash
# e2e (ctest e2e_package, labels e2e;root): builds the .deb with cpack from a configured and built
# tree, and checks it:
#  - control fields: Package, Version (= the binary's --version), Architecture (= dpkg's), Maintainer,
#    Section, Description; Depends names the Debian package of every library the binary links
#    (found independently: objdump NEEDED -> ldd path -> dpkg -S);
#  - the package is shoal, or shoal-nodpdk for a binary built without DPDK: then Depends names no
#    DPDK package and it conflicts with, replaces and provides shoal;
#  - contents: binary, man page, systemd units (= configs/), /etc/shoal/recvd.toml as a conffile,
#    every example config and drop-in, copyright under the package's own doc directory;
#  - the man page renders without groff warnings and names every subcommand and long option the
#    binary's --help lists;
#  - the extracted binary runs (`shoal --version`);
#  - as root: it installs into a throwaway dpkg root (`dpkg --root`, dependencies forced: the root
#    is empty), is registered as installed, runs from there, and removes cleanly.
# usage: check-deb.sh SHOAL_BINARY SOURCE_DIR BUILD_DIR
source "$2/tests/e2e/lib.sh"
BUILD=${3:-}
e2e_init pkg "$1" "$2"
need_cmd cpack dpkg-deb dpkg objdump ldd groff zcat
[ -f "$BUILD/CPackConfig.cmake" ] || { fail "no CPackConfig.cmake in '$BUILD' (configure first)"; e2e_finish; }
[ -f "$BUILD/packaging/shoal.1.gz" ] || skip "no man page in $BUILD/packaging: build the shoal_manpage target (part of 'all') first"

log "building the package with cpack"
mkdir -p "$WORK/pkg"
if ! cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1; then
  cat "$WORK/cpack.log"
  fail "cpack failed"
  e2e_finish
fi
debs=("$WORK"/pkg/*.deb)
expect_eq "number of .deb files" "${#debs[@]}" 1
DEB=${debs[0]}
version=$("$SHOAL" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
PKG=shoal
"$SHOAL" --version | grep -q "DPDK transport: no" && PKG=shoal-nodpdk
log "a binary $("$SHOAL" --version | grep -o '(DPDK.*)'): package $PKG"
expect_eq "package file name" "$(basename "$DEB")" "${PKG}_${version}_${arch}.deb"

field() { dpkg-deb -f "$DEB" "$1"; }
expect_eq "Package" "$(field Package)" "$PKG"
if [ "$PKG" = shoal-nodpdk ]; then
  expect_eq "Depends names no DPDK package" "$(field Depends | tr ',' '\n' | grep -ciE 'dpdk|librte' || true)" 0
  for f in Conflicts Replaces Provides; do expect_eq "$f" "$(field $f)" shoal; done
else
  expect_eq "Conflicts" "$(field Conflicts)" shoal-nodpdk
fi
expect_eq "Version" "$(field Version)" "$version"
expect_eq "Architecture" "$(field Architecture)" "$arch"
expect_eq "Section" "$(field Section)" net
expect "Maintainer is set" test -n "$(field Maintainer)"
expect "Description is set" test -n "$(field Description)"

# Depends: the package of every library the binary links directly, or a name that package provides.
depends=$(field Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g')
for lib in $(objdump -p "$SHOAL" | awk '$1 == "NEEDED" {print $2}'); do
  # (The dynamic loader appears by its path: "/lib64/ld-linux-x86-64.so.2 (0x...)".)
  path=$(ldd "$SHOAL" | awk -v l="$lib" '$1 == l {print $3; exit} $1 ~ ("/" l "$") {print $1; exit}')
  [ -n "$path" ] || { fail "ldd does not resolve $lib"; continue; }
  owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null || true)
  pkg=${owner%%:*}
  [ -n "$pkg" ] || { fail "no Debian package owns $path ($lib)"; continue; }
  names="$pkg $(dpkg -s "$pkg" 2>/dev/null | sed -n 's/^Provides: //p' | tr ',' '\n' | sed 's/(.*)//; s/ //g')"
  found=""
  for n in $names; do grep -qx "$n" <<<"$depends" && found=$n; done
  if [ -n "$found" ]; then pass "Depends has $found (for $lib)"; else fail "Depends lacks $pkg (for $lib): $(field Depends)"; fi
done

log "contents"
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' >"$WORK/contents"
DOC=/usr/share/doc/$PKG
want=(/usr/bin/shoal /usr/share/man/man1/shoal.1.gz /usr/lib/systemd/system/shoal-recvd.service
  /usr/lib/systemd/system/shoal-send@.service /etc/shoal/recvd.toml
  "$DOC/copyright" "$DOC/examples/shoal-recvd.service" "$DOC/examples/shoal-send@.service"
  "$DOC/examples/shoal-recvd.service.d/local.conf" "$DOC/examples/shoal-recvd.service.d/boot-entries.conf")
for f in "$SRC"/configs/*.toml; do want+=("$DOC/examples/$(basename "$f")"); done
for f in "${want[@]}"; do expect "package contains $f" grep -qx -- "$f" "$WORK/contents"; done
mkdir -p "$WORK/ctl"
dpkg-deb -e "$DEB" "$WORK/ctl"
expect_eq "conffiles" "$(cat "$WORK/ctl/conffiles" 2>/dev/null)" /etc/shoal/recvd.toml

mkdir -p "$WORK/x"
dpkg-deb -x "$DEB" "$WORK/x"
expect "the packaged unit is configs/shoal-recvd.service" \
  cmp -s "$WORK/x/usr/lib/systemd/system/shoal-recvd.service" "$SRC/configs/shoal-recvd.service"
expect "the packaged /etc/shoal/recvd.toml is configs/recvd.toml" \
  cmp -s "$WORK/x/etc/shoal/recvd.toml" "$SRC/configs/recvd.toml"
expect "the packaged copyright declares Apache-2.0, as LICENSE does" \
  grep -qx "License: Apache-2.0" "$WORK/x$DOC/copyright"
expect "LICENSE at the top of the sources is the Apache License 2.0" \
  grep -q "Apache License" "$SRC/LICENSE"
expect_eq "extracted shoal --version" "$("$WORK/x/usr/bin/shoal" --version 2>&1)" "$("$SHOAL" --version)"

log "man page"
zcat "$WORK/x/usr/share/man/man1/shoal.1.gz" >"$WORK/shoal.1"
warnings=$(groff -man -Tutf8 -ww -z "$WORK/shoal.1" 2>&1)
expect_eq "groff warnings" "$warnings" ""
MANWIDTH=200 groff -man -Tutf8 -P-cbou "$WORK/shoal.1" 2>/dev/null | sed 's/\xe2\x80\x90/-/g' >"$WORK/man.txt"
subs=$("$SHOAL" --help | sed -n '/^Subcommands:/,$p' | awk '/^  [a-z]/ {print $1}')
expect "shoal --help lists subcommands" test -n "$subs"
for s in $subs; do
  expect "man page has a section for 'shoal $s'" grep -qE "^ *shoal $s( |$)" "$WORK/man.txt"
  for o in $("$SHOAL" "$s" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
    [ "$o" = --help ] && continue
    grep -qF -- "$o" "$WORK/man.txt" || fail "man page lacks $o (shoal $s)"
  done
done

if [ "$(id -u)" -ne 0 ]; then
  log "package checks done; installing into a throwaway root needs root"
  [ "$E2E_FAILS" -gt 0 ] && e2e_finish
  skip "dpkg --root install (needs root); every other check passed"
fi

log "installing into a throwaway dpkg root"
R=$WORK/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
# The root holds nothing else, so the dependencies (checked above) cannot be satisfied there.
expect "dpkg --root -i" dpkg --root="$R" --force-depends --log=/dev/null -i "$DEB" >"$WORK/dpkg.log" 2>&1
expect_eq "dpkg status" "$(dpkg --root="$R" -s "$PKG" 2>/dev/null | sed -n 's/^Status: //p')" "install ok installed"
# An operator's edit of the conffile survives an upgrade (here: the same package again).
echo "# edited by the operator" >>"$R/etc/shoal/recvd.toml"
expect "dpkg --root -i again (upgrade)" dpkg --root="$R" --force-depends --force-confold --log=/dev/null -i "$DEB" \
  >>"$WORK/dpkg.log" 2>&1
expect "the operator's edit of /etc/shoal/recvd.toml survived" grep -qx "# edited by the operator" "$R/etc/shoal/recvd.toml"
expect_eq "installed shoal --version" "$("$R/usr/bin/shoal" --version 2>&1)" "$("$SHOAL" --version)"
expect "dpkg --root -r" dpkg --root="$R" --log=/dev/null -r "$PKG" >>"$WORK/dpkg.log" 2>&1
expect_no_file "$R/usr/bin/shoal"
expect_no_file "$R/usr/lib/systemd/system/shoal-recvd.service"
expect "a removed package keeps its conffile (purge removes it)" test -f "$R/etc/shoal/recvd.toml"
expect "dpkg --root --purge" dpkg --root="$R" --log=/dev/null --purge "$PKG" >>"$WORK/dpkg.log" 2>&1
expect_no_file "$R/etc/shoal/recvd.toml"
e2e_finish
