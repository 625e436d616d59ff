#!/usr/bin/env bash
# Runs every benchmark under bench/ (each prints its own table, with ratios against the reference it names):
# executable files directly, directories through their run.py. bench/mutation (tens of minutes) and
# bench/lab_callbacks (an Ansible plugin) are not benchmarks to run here.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
for b in bench/*; do
  case "$b" in bench/mutation|bench/lab_callbacks) continue ;; esac
  if [ -d "$b" ]; then
    [ -f "$b/run.py" ] || continue
    cmd=(python "$b/run.py")
  else
    [ -x "$b" ] || continue
    cmd=("$b")
  fi
  printf '\n===== %s =====\n' "$b"
  "${cmd[@]}" || echo "($b failed with status $?)"
done
