#!/usr/bin/env bash
# Sets up a fresh machine for this project: Debian packages (reference programs for interop tests),
# the Python virtual environment in .venv, and the project itself in editable mode.
# Idempotent and quick on a second run. Never starts a time daemon (see block_service_starts).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}

log() { printf '[bootstrap] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

# Debian's ntpsec (and chrony) start their daemon on install; started as root it could steer the clock.
# A policy-rc.d that exits 101 forbids every service start while we install, and is removed afterwards.
block_service_starts() {
  if [ -e /usr/sbin/policy-rc.d ] && ! grep -q ntpd-py-bootstrap /usr/sbin/policy-rc.d; then
    as_root cp /usr/sbin/policy-rc.d /usr/sbin/policy-rc.d.ntpd-py-saved
  fi
  printf '#!/bin/sh\n# ntpd-py-bootstrap: no service starts during install\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod 755 /usr/sbin/policy-rc.d
}
unblock_service_starts() {
  as_root rm -f /usr/sbin/policy-rc.d
  if [ -e /usr/sbin/policy-rc.d.ntpd-py-saved ]; then as_root mv /usr/sbin/policy-rc.d.ntpd-py-saved /usr/sbin/policy-rc.d; fi
}

apt_packages() {
  local want=(ntpsec iproute2 util-linux tcpdump libcap2 libedit2 libgnutls30 libnettle8 libseccomp2 ca-certificates openssl)
  local missing=()
  for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    block_service_starts
    trap unblock_service_starts EXIT
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    unblock_service_starts
    trap - EXIT
  fi
  # Make sure no ntpd was left running by the package (it must never discipline this clock).
  if pgrep -x ntpd >/dev/null 2>&1; then as_root pkill -x ntpd || true; fi
  # chrony conflicts with ntpsec as a package: unpack its .deb into .deps/chrony and run chronyd from there.
  if [ ! -x .deps/chrony/usr/sbin/chronyd ]; then
    log "unpacking chrony into .deps/chrony"
    mkdir -p .deps/chrony .deps/debs
    (cd .deps/debs && apt-get download chrony >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download chrony >/dev/null; })
    dpkg -x .deps/debs/chrony_*.deb .deps/chrony
  fi
}

python_env() {
  local stamp=.venv/.bootstrap-$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $($PY --version)"
    "$PY" -m venv .venv
  fi
  if [ ! -e "$stamp" ]; then
    log "installing Python dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[test,fast]"
    rm -f .venv/.bootstrap-*
    touch "$stamp"
  fi
}

# The checkout is the collection autokey.ntp: ansible.cfg's collections_path (.collections) finds it through this link.
collection_link() {
  mkdir -p .collections/ansible_collections/autokey
  local link=.collections/ansible_collections/autokey/ntp
  if [ "$(readlink "$link" 2>/dev/null)" != "../../.." ]; then rm -rf "$link"; ln -s ../../.. "$link"; fi
}

if command -v apt-get >/dev/null 2>&1; then apt_packages; else log "no apt-get: skipping Debian packages (interop tests will skip)"; fi
python_env
collection_link
log "ready: $(.venv/bin/python --version), ntpq: $(command -v ntpq || echo none), chronyd: $(ls .deps/chrony/usr/sbin/chronyd 2>/dev/null || echo none)"
