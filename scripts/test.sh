#!/usr/bin/env bash
# Runs every test: the Python suite (unit, conformance against ../shared/vectors, interop with real
# ntpq/chronyd/ntpsec), then the Ansible side (ansible-lint, ansible-test, molecule) where present.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
status=0
step() { printf '\n===== %s =====\n' "$*"; }

step "pytest"
python -m pytest tests -q -p no:cacheprovider || status=1

if [ -f scripts/test-ansible.sh ]; then
  step "ansible"
  bash scripts/test-ansible.sh || status=1
fi
exit $status
