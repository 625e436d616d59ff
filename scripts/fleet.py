#!/usr/bin/env python3
"""Boot and remove the fleet scenario's Debian hosts (molecule/fleet): systemd-nspawn containers, each with
systemd as PID 1, sshd and a sudo user, in its own network namespace.

    fleet.py up   --state DIR --host NAME=ADDR ... [--become-password-env VAR]
    fleet.py down --state DIR
    fleet.py exec --state DIR NAME -- COMMAND...      # a command inside a host (nsenter), for checks

Network: one "switch" namespace with a bridge (SUBNET.1) and one namespace per host joined to it by a veth pair;
every address exists only inside these namespaces. The controller reaches the hosts with SSH through
scripts/fleet_proxy.py run in the switch namespace (the ProxyCommand). Namespaces are named after this process's
PID (fleet-PID-sw, fleet-PID-HOST) and recorded, with every container's PID, in DIR/fleet.json: `down` removes
exactly those, by PID and name. Each host boots from an overlay over the cached root file system
(scripts/fleet-rootfs.sh), never changing the cache, without CAP_SYS_TIME.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBNET_PREFIX = 24
USER = "deploy"
BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


def log(msg: str) -> None:
    print(f"[fleet] {msg}", file=sys.stderr, flush=True)


def run(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def netns_run(ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ip", "netns", "exec", ns, *cmd, check=check)


def state_file(state: Path) -> Path:
    return state / "fleet.json"


def build_rootfs() -> Path:
    out = run("bash", str(REPO / "scripts" / "fleet-rootfs.sh"), check=False)
    sys.stderr.write(out.stderr)
    if out.returncode != 0:
        raise SystemExit(f"fleet: building the root file system failed (rc {out.returncode})")
    return Path(out.stdout.strip().splitlines()[-1])


def make_network(tag: str, hosts: dict[str, str]) -> dict:
    """The switch namespace with its bridge, and one namespace per host with eth0 on the bridge."""
    addrs = list(hosts.values())
    gateway = addrs[0].rsplit(".", 1)[0] + ".1"
    switch = f"fleet-{tag}-sw"
    run("ip", "netns", "add", switch)
    net = {"switch": switch, "gateway": gateway, "hosts": {}}
    run("ip", "-n", switch, "link", "set", "lo", "up")
    run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
    run("ip", "-n", switch, "addr", "add", f"{gateway}/{SUBNET_PREFIX}", "dev", "br0")
    run("ip", "-n", switch, "link", "set", "br0", "up")
    for index, (name, addr) in enumerate(hosts.items()):
        ns = f"fleet-{tag}-{name}"
        run("ip", "netns", "add", ns)
        net["hosts"][name] = ns
        port = f"h{index}"
        run("ip", "-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "-n", switch, "link", "set", port, "master", "br0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "addr", "add", f"{addr}/{SUBNET_PREFIX}", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
    return net


def prepare_root(root: Path, name: str, hosts: dict[str, str], pubkey: str, password: str) -> None:
    """Per-host state in the overlay's upper layer: name, host keys, the sudo user and its SSH key."""
    (root / "etc" / "hostname").write_text(f"{name}\n")
    lines = ["127.0.0.1 localhost", f"127.0.1.1 {name}"] + [f"{a} {n}" for n, a in hosts.items()]
    (root / "etc" / "hosts").write_text("\n".join(lines) + "\n")
    run("ssh-keygen", "-q", "-A", "-f", str(root))
    (root / "etc" / "ssh" / "sshd_config.d").mkdir(exist_ok=True)
    (root / "etc" / "ssh" / "sshd_config.d" / "fleet.conf").write_text(
        "UseDNS no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n")
    run("chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", USER)
    run("chroot", str(root), "chpasswd", input=f"{USER}:{password}\n")
    ssh_dir = root / "home" / USER / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "authorized_keys").write_text(pubkey)
    uid_gid = run("chroot", str(root), "id", "-u", USER).stdout.strip(), run("chroot", str(root), "id", "-g", USER).stdout.strip()
    for path in (ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(path, int(uid_gid[0]), int(uid_gid[1]))
    (ssh_dir / "authorized_keys").chmod(0o600)


def boot(root: Path, name: str, ns: str, console_log: Path) -> int:
    cmd = [
        "systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot",
        f"--directory={root}", f"--machine={name}", f"--hostname={name}",
        f"--network-namespace-path=/run/netns/{ns}",
        "--drop-capability=CAP_SYS_TIME",
        "--console=passive", "--link-journal=no", "--resolv-conf=off", "--timezone=off",
    ]
    with open(console_log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc.pid


def wait_ssh(switch: str, addr: str, pid: int, deadline: float, console_log: Path) -> None:
    probe = ("import socket,sys\n"
             "s=socket.socket(); s.settimeout(1)\n"
             f"sys.exit(0 if s.connect_ex(('{addr}', 22)) == 0 else 1)\n")
    while time.monotonic() < deadline:
        if not pid_is_nspawn(pid):
            raise SystemExit(f"fleet: container at {addr} exited while booting; {console_log}:\n"
                             + console_log.read_text(errors="replace")[-3000:])
        if netns_run(switch, sys.executable, "-c", probe, check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise SystemExit(f"fleet: sshd at {addr} did not answer within {BOOT_TIMEOUT:.0f} s; see {console_log}")


def wait_booted(pid: int, deadline: float, console_log: Path) -> None:
    """Until the container's systemd has finished booting: the controller's first SSH login then starts the
    user's units on a booted host, as on a real one, not while boot jobs still run (a login during boot left
    user-runtime-dir@1000 failed with 219/CGROUP on some runs)."""
    remaining = max(1, int(deadline - time.monotonic()))
    result = run("nsenter", "-t", container_init(pid), "-a", "--", "timeout", str(remaining),
                 "systemctl", "is-system-running", "--wait", check=False)
    if result.stdout.strip() not in ("running", "degraded"):
        raise SystemExit(f"fleet: the container {pid} did not finish booting within {BOOT_TIMEOUT:.0f} s "
                         f"({result.stdout.strip() or result.stderr.strip()}); see {console_log}")


def container_init(pid: int) -> str:
    """The container's PID 1: the only child of systemd-nspawn."""
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0]


def pid_is_nspawn(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"systemd-nspawn")
    except OSError:
        return False


def up(args: argparse.Namespace) -> None:
    state: Path = args.state
    if os.geteuid() != 0:
        raise SystemExit("fleet: needs root (network namespaces, overlay mounts, systemd-nspawn)")
    if state_file(state).exists():
        raise SystemExit(f"fleet: {state_file(state)} exists: run `fleet.py down --state {state}` first")
    hosts = dict(h.split("=", 1) for h in args.host)
    password = os.environ.get(args.become_password_env or "", "") or "fleet"
    rootfs = build_rootfs()
    state.mkdir(parents=True, exist_ok=True)
    tag = str(os.getpid())
    record: dict = {"tag": tag, "rootfs": str(rootfs), "hosts": {}}
    # Recorded before anything is made, and after every step, so that `down` removes a half-made fleet too.
    save = lambda: state_file(state).write_text(json.dumps(record, indent=1))  # noqa: E731
    record["switch"] = f"fleet-{tag}-sw"
    record["netns"] = [record["switch"]] + [f"fleet-{tag}-{n}" for n in hosts]
    save()
    key = state / "id_ed25519"
    if not key.exists():
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"fleet-controller-{tag}", "-f", str(key))
    pubkey = (state / "id_ed25519.pub").read_text()
    net = make_network(tag, hosts)
    record["gateway"] = net["gateway"]
    known = []
    for name, addr in hosts.items():
        base = state / "hosts" / name
        for sub in ("upper", "work", "root"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        root = base / "root"
        run("mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={rootfs},upperdir={base / 'upper'},workdir={base / 'work'}", str(root))
        record["hosts"][name] = {"addr": addr, "netns": net["hosts"][name], "root": str(root), "pid": None}
        save()
        prepare_root(root, name, hosts, pubkey, password)
        hostkey = (root / "etc" / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
        known.append(f"{addr},{name} {hostkey[0]} {hostkey[1]}")
        record["hosts"][name]["pid"] = boot(root, name, net["hosts"][name], base / "console.log")
        save()
    (state / "known_hosts").write_text("\n".join(known) + "\n")
    (state / "switch-netns").write_text(net["switch"] + "\n")
    deadline = time.monotonic() + BOOT_TIMEOUT
    for name, host in record["hosts"].items():
        wait_ssh(net["switch"], host["addr"], host["pid"], deadline, state / "hosts" / name / "console.log")
    for name, host in record["hosts"].items():
        wait_booted(host["pid"], deadline, state / "hosts" / name / "console.log")
    log(f"{len(hosts)} hosts up (booted, sshd answers) in namespaces {', '.join(record['netns'])}")


def stop_container(pid: int) -> None:
    if not pid_is_nspawn(pid):
        return
    os.kill(pid, signal.SIGTERM)  # systemd-nspawn: an orderly shutdown of the container's systemd
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and pid_is_nspawn(pid):
        time.sleep(0.2)
    if pid_is_nspawn(pid):
        log(f"container {pid} did not stop within {STOP_TIMEOUT:.0f} s: SIGKILL")
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def down(args: argparse.Namespace) -> None:
    path = state_file(args.state)
    if not path.exists():
        log(f"nothing to remove ({path} does not exist)")
        return
    record = json.loads(path.read_text())
    for host in record["hosts"].values():
        if host.get("pid"):
            stop_container(host["pid"])
    for name, host in record["hosts"].items():
        root = Path(host["root"])
        if os.path.ismount(root):
            if run("umount", str(root), check=False).returncode != 0:
                run("umount", "--lazy", str(root), check=False)
    present = set(run("ip", "netns", "list").stdout.split())
    for ns in record["netns"]:
        if ns in present:
            run("ip", "netns", "delete", ns, check=False)
    shutil.rmtree(args.state / "hosts", ignore_errors=True)
    path.unlink()
    log(f"removed the fleet {record['tag']} (containers, overlays, namespaces {', '.join(record['netns'])})")


def exec_in(args: argparse.Namespace) -> None:
    record = json.loads(state_file(args.state).read_text())
    pid = record["hosts"][args.name]["pid"]
    os.execvp("nsenter", ["nsenter", "-t", container_init(pid), "-a", "--", *args.command])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--state", type=Path, required=True)
    p_up.add_argument("--host", action="append", required=True, metavar="NAME=ADDR")
    p_up.add_argument("--become-password-env", metavar="VAR",
                      help="environment variable holding the sudo user's password")
    p_down = sub.add_parser("down")
    p_down.add_argument("--state", type=Path, required=True)
    p_exec = sub.add_parser("exec")
    p_exec.add_argument("--state", type=Path, required=True)
    p_exec.add_argument("name")
    p_exec.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.action == "exec" and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    {"up": up, "down": down, "exec": exec_in}[args.action](args)


if __name__ == "__main__":
    main()
