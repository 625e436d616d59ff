#!/usr/bin/env bash
# The main job (`make lab`): stand up the lab trust groups GR1 and GR2 (inventories/lab) on this machine's
# loopback, verify every association's Autokey flags and print the summary table (the end of site.yml).
# Extra arguments go to ansible-playbook (e.g. --check, -v). `make clean-lab` stops nothing: use
# `scripts/lab.sh --stop` first to stop the lab's daemons.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
if [ ! -e .collections/ansible_collections/autokey/ntp ]; then
  mkdir -p .collections/ansible_collections/autokey && ln -s ../../.. .collections/ansible_collections/autokey/ntp
fi
if [ "${1:-}" = --stop ]; then
  for script in .lab/*/var/lib/ntpd-py/ntpd-py-service; do
    [ -x "$script" ] && "$script" stop
  done
  exit 0
fi
exec ansible-playbook -i inventories/lab site.yml "$@"
