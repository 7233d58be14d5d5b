#!/usr/bin/env bash
# Runs every libFuzzer target BUILD_DIR/fuzz/<name>_fuzz for SECONDS over a temporary copy of its
# seed corpus fuzz/corpus/<name>/ (the checked-in corpus is never modified).
#   scripts/run-fuzzers.sh BUILD_DIR SECONDS
# Exits non-zero if any fuzzer crashes, leaks, times out or trips a sanitizer; the reproducer is
# kept in BUILD_DIR/fuzz-artifacts/<name>/ and the log tail is printed.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build_dir=$1
seconds=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$build_dir/fuzz" ] && [ -d "$repo/$build_dir/fuzz" ]; then build_dir=$repo/$build_dir; fi
if [ ! -d "$build_dir/fuzz" ]; then
  echo "run-fuzzers: no $build_dir/fuzz; configure with -DSHOAL_FUZZ=ON and build shoal_fuzzers" >&2
  exit 2
fi
build_dir=$(cd "$build_dir" && pwd)

mapfile -t fuzzers < <(find "$build_dir/fuzz" -maxdepth 1 -type f -executable -name '*_fuzz' | sort)
if [ ${#fuzzers[@]} -eq 0 ]; then
  echo "run-fuzzers: no *_fuzz executables in $build_dir/fuzz (build the shoal_fuzzers target)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for exe in "${fuzzers[@]}"; do
  name=$(basename "$exe" _fuzz)
  seeds=$repo/fuzz/corpus/$name
  corpus=$work/$name
  artifacts=$build_dir/fuzz-artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$seeds" ]; then
    cp -r "$seeds/." "$corpus/"
  else
    echo "run-fuzzers: warning: no seed corpus $seeds, starting empty" >&2
  fi
  log=$work/$name.log
  echo "run-fuzzers: $name for ${seconds}s over $(find "$corpus" -type f | wc -l) seeds"
  if "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units)' "$log" | sed "s/^/  $name: /" || true
  else
    echo "run-fuzzers: $name FAILED (reproducers in $artifacts):" >&2
    tail -n 40 "$log" >&2
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "run-fuzzers: failed: ${failed[*]}" >&2
  exit 1
fi
echo "run-fuzzers: all ${#fuzzers[@]} fuzzer(s) ran ${seconds}s without a crash"
