#!/usr/bin/env bash
# Runs every benchmark under bench/ (each prints its own table, with ratios against the reference it names).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
for b in bench/*; do
  [ -x "$b" ] || continue
  printf '\n===== %s =====\n' "$b"
  "$b" || echo "($b failed with status $?)"
done
