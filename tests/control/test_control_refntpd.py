"""Our mode-6 client and ntpd-py-q against a reference daemon: ntpsec's ntpd, in a network namespace of its
own (it binds port 123 on every address), without CAP_SYS_TIME and with `disable ntp`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
from conftest import require_program, safe_cmd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable

CLIENT_SCRIPT = """
import json, sys
from ntpd_py.control.client import ControlClient
with ControlClient("127.0.0.1", timeout=2) as c:
    assocs = c.associations()
    system = c.read_system()
    peer = c.read_peer(assocs[0].assid)
    chosen = c.read_peer(assocs[0].assid, ["srcadr", "hmode"])
    try:
        c.read_peer(65000)
        bad = None
    except Exception as exc:
        bad = str(exc)
print(json.dumps({"assocs": [[a.assid, a.status, a.configured, a.selection] for a in assocs],
                  "system": system.as_dict(), "peer": peer.as_dict(), "chosen": list(chosen), "bad": bad}))
"""


@pytest.fixture(scope="module")
def ntpsec_ns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ntpd = require_program("ntpd")
    require_program("ip")
    name = f"ntpdpyctl{os.getpid()}"
    work = tmp_path_factory.mktemp("ntpsec")
    (work / "ntp.conf").write_text(
        "disable ntp\ndisable kernel\ntos orphan 5\nrestrict default\nrestrict 127.0.0.0 mask 255.0.0.0\n"
        f"server 10.77.0.2 iburst\npeer 10.77.0.3\ndriftfile {work}/drift\nstatsdir {work}/\n")
    subprocess.run(["ip", "netns", "add", name], check=True)
    proc = None
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        proc = subprocess.Popen(["ip", "netns", "exec", name, *safe_cmd([ntpd, "-n", "-c", str(work / "ntp.conf"),
                                 "-l", str(work / "log")])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):  # until ntpq sees both associations
            out = subprocess.run(["ip", "netns", "exec", name, "ntpq", "-n", "-c", "as", "127.0.0.1"],
                                 capture_output=True, text=True, timeout=10).stdout
            if out.count(" yes ") >= 2:
                break
            time.sleep(0.1)
        yield name
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", name], check=False)


def in_ns(ns: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=30,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.interop
def test_client_reads_ntpsec_ntpd(ntpsec_ns: str) -> None:
    result = in_ns(ntpsec_ns, [PYTHON, "-c", CLIENT_SCRIPT])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["assocs"]) == 2 and all(conf for _, _, conf, _ in data["assocs"])
    assert data["system"]["version"].startswith("ntpd ntpsec")
    assert data["system"]["stratum"] == "16" and "clock" in data["system"]
    assert data["peer"]["srcadr"] in ("10.77.0.2", "10.77.0.3") and data["peer"]["hmode"] in ("1", "3")
    assert [name for name, _ in data["chosen"]] == ["srcadr", "hmode"]
    assert "BADASSOC" in data["bad"]


@pytest.mark.interop
def test_cli_against_ntpsec_ntpd(ntpsec_ns: str) -> None:
    result = in_ns(ntpsec_ns, [PYTHON, "-m", "ntpd_py.control.cli", "-c", "as", "-c", "peers", "-c", "rv 0 stratum"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ind assid status") and "mobilize" in lines[2]
    assert any(line.lstrip(" *").startswith("10.77.0.2") for line in lines)
    assert lines[-1] == "stratum=16"
