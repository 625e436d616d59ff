#!/usr/bin/env bash
# Runs `ansible-test sanity` and `ansible-test units` on the collection autokey.ntp.
# ansible-test insists on running inside .../ansible_collections/<namespace>/<name>, so the checkout is copied
# (without .venv, .deps, .lab, .git and build products) into a temporary tree of that shape first.
# Never --docker (no Docker engine here): both run with --venv (ansible-test's pinned requirements, and
# tests/unit/requirements.txt for units, installed from PyPI on the first run and cached under ~/.ansible/test).
# Sanity covers the collection's Ansible content (plugins, roles, meta, unit tests); ntpd_py/ travels in the
# collection for the ntpd_py role to install, and is linted by the project's own tests, not by ansible-test.
# `installed` runs plain `ansible-test sanity --venv` (no target list) on the collection as users get it: the tarball
# of `ansible-galaxy collection build`, installed with `ansible-galaxy collection install` into a temporary tree.
# Usage: scripts/ansible-test.sh [sanity|units|all|installed] [extra ansible-test arguments...]
# Environment: PYTHON_VERSION (default: this .venv's, e.g. 3.11), ANSIBLE_TEST_MODE (--venv or --local).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV_BIN=$ROOT/.venv/bin
WHAT=${1:-all}
shift || true
PYVER=${PYTHON_VERSION:-$("$VENV_BIN/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
MODE=${ANSIBLE_TEST_MODE:---venv}
SANITY_TARGETS=(plugins/ meta/ tests/unit/ tests/sanity/)
[ -d roles ] && SANITY_TARGETS+=(roles/)

log() { printf '[ansible-test] %s\n' "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/autokey-ntp-ansible-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/ansible_collections/autokey/ntp
if [ "$WHAT" = installed ]; then
  "$VENV_BIN/ansible-galaxy" collection build --output-path "$WORK/dist" "$ROOT" >/dev/null
  (cd "$WORK" && env -u ANSIBLE_CONFIG "$VENV_BIN/ansible-galaxy" collection install --force -p "$WORK" dist/autokey-ntp-*.tar.gz >/dev/null)
  SANITY_TARGETS=()
  WHAT=sanity
else
mkdir -p "$TREE"
# What the collection is: the files git knows plus the new ones, minus local state and build products.
tar -C "$ROOT" -c \
  --exclude=./.git --exclude=./.venv --exclude=./.deps --exclude=./.lab --exclude=./lab --exclude=./.collections \
  --exclude=./.ci --exclude=./.ansible --exclude=./tests/output --exclude='*.egg-info' --exclude=__pycache__ \
  --exclude='*.pyc' --exclude=.pytest_cache --exclude=.hypothesis --exclude=./build --exclude=./dist \
  --exclude=./molecule/default/.state --exclude='*.tar.gz' . | tar -C "$TREE" -x
# ansible-test reads the file list from git when there is a .git: give it a repository of the copied files.
(cd "$TREE" && git init -q && git add -A >/dev/null 2>&1 && git -c user.name=t -c user.email=t@t commit -qm tree >/dev/null)
fi

# ansible-test --venv bootstraps pip with a script from a host that is not reachable here: use our stand-in.
for version in $("$VENV_BIN/python" - <<'PY'
import pathlib, re, ansible_test
root = pathlib.Path(ansible_test.__file__).parent
text = (root / "_internal" / "python_requirements.py").read_text()
print(" ".join(sorted(set(re.findall(r"\bpip\s*=\s*['\"]([0-9.]+)['\"]", text))) or ["24.2"]))
PY
); do
  cache=$HOME/.ansible/test/cache/get_pip_${version//./_}.py
  if [ ! -e "$cache" ]; then mkdir -p "$(dirname "$cache")"; cp "$ROOT/scripts/ansible-test-get-pip.py" "$cache"; fi
done

export PATH=$VENV_BIN:$PATH
export ANSIBLE_COLLECTIONS_PATH=$WORK
status=0
cd "$TREE"
if [ "$WHAT" = sanity ] || [ "$WHAT" = all ]; then
  log "sanity ($MODE, python $PYVER): ${SANITY_TARGETS[*]}"
  ansible-test sanity "$MODE" --python "$PYVER" --color no "$@" ${SANITY_TARGETS[@]+"${SANITY_TARGETS[@]}"} || status=1
fi
if [ "$WHAT" = units ] || [ "$WHAT" = all ]; then
  log "units ($MODE, python $PYVER)"
  ansible-test units "$MODE" --python "$PYVER" --color no "$@" || status=1
fi
exit $status
