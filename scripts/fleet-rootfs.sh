#!/usr/bin/env bash
# Builds (once) the Debian root file system the fleet scenario boots with systemd-nspawn, and prints its path.
#   scripts/fleet-rootfs.sh            # path of the cached root, built when missing
#   scripts/fleet-rootfs.sh --rebuild  # build again
#   scripts/fleet-rootfs.sh --print-source  # the mirror, suite and keyring it would use
# The root is cached outside the clone, in FLEET_CACHE (default /var/cache/ntpd-py-fleet), as a directory named
# after a digest of the recipe (suite + package list + this script's recipe version), and only ever used read-only
# (each container boots from an overlay on top of it), so runs never change it.
# The mirror and suite are read from THIS machine's apt configuration at run time (deb822 .sources or
# sources.list): the repository names no mirror.
# Services: debootstrap itself installs a policy-rc.d that exits 101 and a fake start-stop-daemon while it installs
# (so neither sshd nor chronyd starts on this machine); we check afterwards that both are gone from the root and
# disable chrony in it (it is there only so that `systemd-analyze security chrony.service` has Debian's unit).
set -euo pipefail
RECIPE=3
PACKAGES=(systemd systemd-sysv dbus libpam-systemd openssh-server sudo python3 python3-venv iproute2 procps chrony)
CACHE=${FLEET_CACHE:-/var/cache/ntpd-py-fleet}
APT_ETC=${APT_ETC:-/etc/apt}  # tests point this at a fixture
log() { printf '[fleet-rootfs] %s\n' "$*" >&2; }

# The first Debian source of this machine that is not a security or updates suite: URI, suite, keyring.
apt_source() {
  local f
  for f in "$APT_ETC"/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && uri != "" && suite != "" && suite !~ /-(security|updates|backports)$/ && !done) {
          print uri, suite, (key == "" ? "-" : key); done = 1
        }
        types = uri = suite = key = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      tolower($1) == "types:" { types = $0; sub(/^[^:]*:[ \t]*/, "", types) }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { suite = $2 }
      tolower($1) == "signed-by:" { key = $2 }
      END { flush() }
    ' "$f" | head -n1
  done | head -n1 | grep . && return 0
  # One-line style: deb [options] URI SUITE COMPONENTS...
  cat "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list 2>/dev/null \
    | sed -E 's/\[[^]]*\]//' | awk '$1 == "deb" && $3 !~ /-(security|updates|backports)$/ { print $2, $3, "-"; exit }' | grep .
}

read -r MIRROR SUITE KEYRING < <(apt_source) || { log "no Debian source found in $APT_ETC (sources.list or sources.list.d/*.sources)"; exit 1; }
if [ "${1:-}" = --print-source ]; then echo "$MIRROR $SUITE $KEYRING"; exit 0; fi
DIGEST=$(printf '%s\n' "recipe=$RECIPE" "suite=$SUITE" "${PACKAGES[@]}" | sha256sum | cut -c1-16)
ROOT="$CACHE/rootfs-$DIGEST"

if [ "${1:-}" = --rebuild ]; then rm -rf "$ROOT"; fi
if [ -e "$ROOT/.complete" ]; then echo "$ROOT"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock -w 1800 9 || { log "another build holds $CACHE/.build.lock"; exit 1; }
if [ -e "$ROOT/.complete" ]; then echo "$ROOT"; exit 0; fi

for tool in debootstrap systemd-nspawn; do
  command -v "$tool" >/dev/null || { log "missing $tool: apt-get install debootstrap systemd-container (scripts/fleet.sh setup)"; exit 1; }
done

PARTIAL="$ROOT.partial"
rm -rf "$PARTIAL"
log "debootstrap $SUITE from $MIRROR into $PARTIAL (packages: ${PACKAGES[*]})"
keyopt=()
[ "$KEYRING" != - ] && [ -r "$KEYRING" ] && keyopt=(--keyring="$KEYRING")
start=$(date +%s)
debootstrap --variant=minbase "${keyopt[@]}" --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  "$SUITE" "$PARTIAL" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
  || { log "debootstrap failed; last lines of $CACHE/debootstrap.log:"; tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }

# debootstrap's own service block must be gone, and nothing it installed may be left running.
[ ! -e "$PARTIAL/usr/sbin/policy-rc.d" ] || { log "debootstrap left $PARTIAL/usr/sbin/policy-rc.d"; exit 1; }
for pid in $(ls /proc | grep -E '^[0-9]+$'); do
  if [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$PARTIAL" ]; then log "process $pid runs inside the new root"; exit 1; fi
done

# Per-container state is made at boot: no machine-id, no SSH host keys in the shared root.
: >"$PARTIAL/etc/machine-id"
rm -f "$PARTIAL"/etc/ssh/ssh_host_*
# chrony is here for its unit file only; it would not start anyway (ConditionCapability=CAP_SYS_TIME, dropped).
rm -f "$PARTIAL/etc/systemd/system/multi-user.target.wants/chrony.service" \
      "$PARTIAL/etc/systemd/system/chronyd.service"
# No getty on a console nobody reads; sshd needs its privilege-separation directory.
rm -f "$PARTIAL/etc/systemd/system/getty.target.wants/"*
chroot "$PARTIAL" systemctl mask --quiet console-getty.service systemd-timesyncd.service 2>/dev/null || true
printf 'fleet\n' >"$PARTIAL/etc/hostname"
apt_clean() { rm -rf "$PARTIAL/var/cache/apt/archives/"*.deb "$PARTIAL/var/lib/apt/lists/"*; }
apt_clean
touch "$PARTIAL/.complete"
mv "$PARTIAL" "$ROOT"
log "built $ROOT in $(( $(date +%s) - start )) s"
echo "$ROOT"
