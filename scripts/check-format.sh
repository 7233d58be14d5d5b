#!/usr/bin/env bash
# Fails when a tracked C++ file is not clang-formatted (the repo's .clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(git ls-files '*.cc' '*.h' | while read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [ -n "$bad" ]; then
  echo "check-format: not formatted (run clang-format -i on them):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "check-format: all C++ files formatted"
