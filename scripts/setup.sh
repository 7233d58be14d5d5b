#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root):
#   scripts/setup.sh run    install dependencies, build, run the main job (shoal demo)
#   scripts/setup.sh test   install dependencies, build, run the whole test suite (ctest) and the fuzzers
#   scripts/setup.sh deps   install dependencies only
#   scripts/setup.sh build  build only (Release with debug info, into ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
JOBS=${JOBS:-$(nproc)}

PKGS=(build-essential cmake ninja-build pkg-config git
      libisal-dev liburing-dev libssl-dev libdpdk-dev libzstd-dev
      libcli11-dev libspdlog-dev libfmt-dev libtomlplusplus-dev nlohmann-json3-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      clang libclang-rt-14-dev clang-format
      iproute2 nftables kmod util-linux mount jq python3 openssl
      qemu-system-x86 busybox-static)   # tests/e2e/provision.sh: a qemu guest provisioned from an initramfs

deps() {
  local missing=()
  for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then echo "setup: run as root (or with sudo) to install packages" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

build() {
  # $1: the optimisation flags. A user's build keeps debug info; the test run does without (-g is a
  # third of every compile, and a failing test names itself without it).
  local flags=${1:-"-O2 -g -DNDEBUG"}
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" ${SHOAL_CMAKE_ARGS:-}
  cmake --build build -j "$JOBS"
}

nodpdk() {
  # The DPDK transport is optional: a build without it must still build and fall back cleanly.
  # The fuzz build is one (clang, -DSHOAL_DPDK=OFF, libraries under ASan and UBSan): its shoal
  # target costs only the executable's own files, where a separate build would cost them all.
  local dir=build-fuzz
  cmake --build "$dir" -j "$JOBS" --target shoal
  "./$dir/cli/shoal" selfcheck
  local out obj
  obj=$(mktemp)
  head -c 4096 /dev/urandom >"$obj"
  if out=$("./$dir/cli/shoal" send "$obj" --transport dpdk --insecure --listen 127.0.0.1:0 2>&1); then
    rm -f "$obj"
    echo "setup: a build without DPDK accepted --transport dpdk" >&2; exit 1
  fi
  rm -f "$obj"
  echo "$out" | grep -q "built without DPDK" || { echo "setup: unexpected message: $out" >&2; exit 1; }
  echo "setup: build without DPDK: builds, self-checks, refuses --transport dpdk with a reason"
}

static_build() {
  # -DSHOAL_STATIC=ON, the initramfs receiver: a second build of the shoal target alone, checked by
  # ctest e2e_static_binary (packaging/static/check-static.sh) once it exists.
  # No debug info (-O2 as RelWithDebInfo, without -g): the initramfs and the package ship it stripped,
  # and linking a static binary with it (about 150 MB) costs CI minutes.
  cmake -S . -B build-static -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_STATIC=ON -DSHOAL_TESTS=OFF \
    -DSHOAL_BENCH=OFF -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG"
  cmake --build build-static -j "$JOBS" --target shoal
}

nodpdk_package() {
  # The package for receivers that pulls no DPDK (shoal-nodpdk), from the static build: built with
  # cpack and checked like the main one (packaging/check-deb.sh; ctest e2e_package checks that).
  cmake --build build-static -j "$JOBS" --target shoal_manpage
  bash packaging/check-deb.sh "$PWD/build-static/cli/shoal" "$PWD" "$PWD/build-static"
}

fuzz() {
  # The fuzzers need clang's libFuzzer; each gets a bounded run over the checked-in corpus.
  # Line tables only: a crash's stack still names file and line, at a fraction of full -g's cost.
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
    -DSHOAL_FUZZ=ON -DSHOAL_TESTS=OFF -DSHOAL_BENCH=OFF -DSHOAL_DPDK=OFF
  cmake --build build-fuzz -j "$JOBS" --target shoal_fuzzers
  scripts/run-fuzzers.sh build-fuzz "${FUZZ_SECONDS:-10}"
}

case "$mode" in
  deps) deps ;;
  build) deps; build ;;
  run) deps; build; exec ./build/cli/shoal demo ;;
  test)
    deps
    scripts/check-format.sh
    build "-O2 -DNDEBUG"
    static_build
    # The provisioning test's guest kernel: Debian's cloud kernel package, extracted (not installed).
    scripts/qemu-provision.sh find-kernel >/dev/null 2>&1 || scripts/qemu-provision.sh fetch-kernel ||
      echo "setup: no guest kernel, so e2e_provision will skip" >&2
    (cd build && ctest --output-on-failure -j "$JOBS" --timeout 600)
    nodpdk_package
    fuzz
    nodpdk   # after fuzz: it reuses that build
    ;;
  *) echo "usage: $0 run|test|deps|build" >&2; exit 2 ;;
esac
