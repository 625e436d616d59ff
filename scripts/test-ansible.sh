#!/usr/bin/env bash
# The Ansible side of `make test`: ansible-lint (production profile), a syntax check of every playbook,
# the inventories, the molecule scenario (no Docker: loopback hosts), and scripts/ansible-test.sh if present.
# Exits non-zero when any step fails. SKIP_MOLECULE=1 skips the scenario (it starts daemons; ~1-3 min).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
# An inventory that does not parse is an error here, not a warning (a missing inventories/lab once passed silently).
export ANSIBLE_INVENTORY_UNPARSED_FAILED=true
status=0
step() { printf '\n----- %s -----\n' "$*"; }
run() { "$@" || { echo "FAILED: $*" >&2; status=1; }; }

# The checkout is the collection autokey.ntp (scripts/bootstrap.sh makes this link; repeated here for CI shells).
if [ ! -e .collections/ansible_collections/autokey/ntp ]; then
  mkdir -p .collections/ansible_collections/autokey && ln -s ../../.. .collections/ansible_collections/autokey/ntp
fi

step "ansible-lint --profile production"
run ansible-lint --profile production

step "syntax check of every playbook"
for pb in site.yml renew.yml rotate-identity.yml playbooks/verify.yml autokey.ntp.site autokey.ntp.renew autokey.ntp.rotate_identity; do
  run ansible-playbook --syntax-check -i inventories/lab "$pb"
  run ansible-playbook --syntax-check -i inventories/example "$pb"
done

step "inventories"
run ansible-inventory -i inventories/lab --graph
run ansible-inventory -i inventories/example --graph --vault-password-file inventories/example/vault-password.txt

if [ "${SKIP_MOLECULE:-0}" != 1 ]; then
  step "molecule test (scenario default)"
  run molecule test -s default
fi

if [ -f scripts/ansible-test.sh ]; then
  step "ansible-test"
  run bash scripts/ansible-test.sh
  step "ansible-test sanity on the built and installed collection"
  run bash scripts/ansible-test.sh installed
fi
exit $status
