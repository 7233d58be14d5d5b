#!/usr/bin/env bash
# Builds ISA-L's static archive (Debian ships only libisal.so) for a fully static shoal:
#   packaging/static/build-isal.sh OUTDIR            -> OUTDIR/libisal.a
#   cmake -S . -B build-static -G Ninja -DSHOAL_STATIC=ON -DSHOAL_ISAL_STATIC_LIB=OUTDIR/libisal.a ...
# The source is Debian's own package of the same version as libisal-dev (so its headers match), fetched
# with apt-get source through a private source list under OUTDIR (the system's apt configuration is left
# alone), and built with ISA-L's plain makefile (Makefile.unx; needs nasm, make and dpkg-dev). About 15 s.
set -euo pipefail
out=${1:?usage: build-isal.sh OUTDIR}
for c in apt-get dpkg-source nasm make; do
  command -v "$c" >/dev/null || { echo "build-isal: needs $c (apt-get install dpkg-dev nasm make)" >&2; exit 1; }
done
version=$(dpkg-query -W -f '${Version}' libisal-dev 2>/dev/null) ||
  { echo "build-isal: libisal-dev is not installed (its headers are the ones shoal compiles against)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
apt=$out/apt
mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache" "$out/src"
. /etc/os-release
printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" "Suites: $VERSION_CODENAME" "Components: main" \
  "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" >"$apt/parts/src.sources"
opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/parts" -o "Dir::State::Lists=$apt/lists"
  -o "Dir::Cache=$apt/cache")
apt-get "${opts[@]}" -q update >/dev/null
rm -rf "$out/src" && mkdir -p "$out/src"
(cd "$out/src" && apt-get "${opts[@]}" -q source --download-only "libisal=$version" >/dev/null 2>&1)
# apt checked the files against the signed Sources index; dpkg-source's own check of the uploader's
# signature needs their key (debian-keyring) and only warns without it: its output goes to the log.
dpkg-source -x "$out"/src/libisal_*.dsc "$out/src/isa-l" >"$out/build.log" 2>&1
make -C "$out/src/isa-l" -f Makefile.unx -j"$(nproc)" lib >>"$out/build.log" 2>&1 ||
  { tail -n 20 "$out/build.log" >&2; exit 1; }
cp "$out/src/isa-l/bin/isa-l.a" "$out/libisal.a"
echo "build-isal: $out/libisal.a (ISA-L $version)"
