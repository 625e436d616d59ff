#!/usr/bin/env bash
# Sets up a fresh machine for this project: Debian packages (reference programs for interop tests),
# the Python virtual environment in .venv, and the project itself in editable mode.
# Idempotent and quick on a second run. Never starts a time daemon (see block_service_starts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=${PYTHON:-python3}

log() { printf '[bootstrap] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

# Debian's ntpsec (and chrony) start their daemon on install; started as root it could steer the clock.
# A policy-rc.d that exits 101 forbids every service start while we install. Ours carries the marker below; it is
# removed afterwards, also when the install is interrupted (SIGINT, SIGTERM: trap), and a stale one of ours left
# by a killed run is removed on the next run, putting back the original that was saved beside it, if any.
# NTPD_PY_POLICY_RC (tests only) names another path, so that the functions can be exercised in a sandbox.
POLICY_RC=${NTPD_PY_POLICY_RC:-/usr/sbin/policy-rc.d}
POLICY_RC_SAVED=$POLICY_RC.ntpd-py-saved
POLICY_MARKER=ntpd-py-bootstrap

ours() { [ -e "$POLICY_RC" ] && grep -q "$POLICY_MARKER" "$POLICY_RC"; }

block_service_starts() {
  if [ -e "$POLICY_RC" ] && ! ours; then
    as_root cp -p "$POLICY_RC" "$POLICY_RC_SAVED"
  fi
  printf '#!/bin/sh\n# %s: no service starts during install\nexit 101\n' "$POLICY_MARKER" | as_root tee "$POLICY_RC" >/dev/null
  as_root chmod 755 "$POLICY_RC"
}
# Removes only a policy-rc.d of ours (never the user's own), then restores the saved original.
unblock_service_starts() {
  if ours; then as_root rm -f "$POLICY_RC"; fi
  if [ -e "$POLICY_RC_SAVED" ] && [ ! -e "$POLICY_RC" ]; then as_root mv "$POLICY_RC_SAVED" "$POLICY_RC"; fi
}
# A stale policy-rc.d of ours (a run killed with SIGKILL, a power cut) blocks every service start: remove it.
remove_stale_block() {
  if ours || [ -e "$POLICY_RC_SAVED" ]; then
    log "removing a policy-rc.d left by an interrupted bootstrap ($POLICY_RC)"
    unblock_service_starts
  fi
}
# Runs the command "$@" (the install; a program, not a shell function, so that its PID is the program's) with
# service starts blocked. On SIGINT or SIGTERM the install (started here, stopped by its PID) is stopped and waited
# for before the block is lifted, so that no service can start half-way through.
INSTALL_PID=
with_service_starts_blocked() {
  trap unblock_service_starts EXIT
  trap 'on_signal 130' INT
  trap 'on_signal 143' TERM
  block_service_starts
  local rc=0
  "$@" &
  INSTALL_PID=$!
  wait "$INSTALL_PID" || rc=$?
  INSTALL_PID=
  unblock_service_starts
  trap - EXIT INT TERM
  return "$rc"
}
on_signal() {
  if [ -n "$INSTALL_PID" ]; then
    kill -TERM "$INSTALL_PID" 2>/dev/null || true
    wait "$INSTALL_PID" 2>/dev/null || true
  fi
  unblock_service_starts
  trap - EXIT INT TERM
  exit "$1"
}

apt_packages() {
  local want=(ntpsec iproute2 util-linux tcpdump libcap2 libedit2 libgnutls30 libnettle8 libseccomp2 ca-certificates openssl)
  # The fleet scenario (molecule/fleet): a Debian root by debootstrap, booted with systemd-nspawn.
  want+=(debootstrap systemd-container)
  local missing=()
  for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    with_service_starts_blocked "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # No daemon was started (policy-rc.d above), so none is stopped here: this script never kills a process it did
  # not start, and never by name (the user's own ntpd stays untouched).
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

# Sourced with NTPD_PY_BOOTSTRAP_FUNCTIONS_ONLY=1 (tests): define the functions, run nothing.
if [ -n "${NTPD_PY_BOOTSTRAP_FUNCTIONS_ONLY:-}" ]; then return 0 2>/dev/null || exit 0; fi

remove_stale_block
if command -v apt-get >/dev/null 2>&1; then apt_packages; else log "no apt-get: skipping Debian packages (interop tests will skip)"; fi
python_env
collection_link
log "ready: $(.venv/bin/python --version), ntpq: $(command -v ntpq || echo none), chronyd: $(ls .deps/chrony/usr/sbin/chronyd 2>/dev/null || echo none)"
