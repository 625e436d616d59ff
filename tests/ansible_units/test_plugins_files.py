"""autokey.ntp.ntp_files: a host's directories and small files in one module run, run as Ansible runs it.

What the roles rely on: directories (and their parents) made with the mode and the mode put back; a file written
only when its bytes differ, and then atomically after validation; check mode changing nothing; a private file's
text (ntp.conf's crypto password) in no output and no diff.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from plugins_harness import ansible  # noqa: F401  (the shared fixture)

SECRET = "pw-Zq81-never-shown"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_directories_files_and_idempotence(ansible, tmp_path):
    root = tmp_path / "host"
    conf = root / "etc" / "ntp.conf"
    script = root / "var" / "lib" / "ctl"
    args = {"directories": [str(root / "etc"), str(root / "var" / "log" / "stats"), str(root / "var" / "lib")],
            "directory_mode": "0750",
            "files": [{"path": str(script), "content": "#!/bin/sh\necho hi\n", "mode": "0755"}],
            "private_files": [{"path": str(conf), "content": f"crypto pw {SECRET}\n", "mode": "0600",
                               "validate": "grep -q crypto %s"}]}
    (checked,) = ansible.play([{"autokey.ntp.ntp_files": args, "check_mode": True, "diff": True}])
    # check mode predicts every change and makes none
    assert checked.changed and not checked.failed, checked.output
    assert sorted(checked.result["files"]) == sorted([str(script), str(conf)])
    assert not root.exists()
    first, second = ansible.play([{"autokey.ntp.ntp_files": args, "diff": True}, {"autokey.ntp.ntp_files": args}])
    assert first.changed and not first.failed, first.output
    assert mode(root / "var" / "log") == 0o750 and mode(root / "var" / "log" / "stats") == 0o750  # parents too
    assert script.read_text() == "#!/bin/sh\necho hi\n" and mode(script) == 0o755
    assert conf.read_text() == f"crypto pw {SECRET}\n" and mode(conf) == 0o600
    # the private file is named in the diff, its text is nowhere
    for outcome in (checked, first):
        assert SECRET not in outcome.output
        assert any(d.get("after_header") == str(conf) for d in outcome.result["diff"])
    assert any("echo hi" in d.get("after", "") for d in first.result["diff"])
    assert not second.changed and not second.failed, second.output
    assert second.result == {**second.result, "directories": [], "files": []}


def test_modes_are_put_back_and_unchanged_content_keeps_its_inode(ansible, tmp_path):
    directory, path = tmp_path / "d", tmp_path / "d" / "f"
    directory.mkdir(mode=0o700)
    path.write_text("same\n")
    path.chmod(0o644)
    inode = path.stat().st_ino
    (out,) = ansible.play([{"autokey.ntp.ntp_files": {
        "directories": [str(directory)], "files": [{"path": str(path), "content": "same\n", "mode": "0600"}]}}])
    assert out.changed and out.result["directories"] == [str(directory)] and out.result["files"] == [str(path)]
    assert mode(directory) == 0o755 and mode(path) == 0o600
    assert path.stat().st_ino == inode


def test_a_file_that_fails_validation_is_left_as_it_was(ansible, tmp_path):
    path = tmp_path / "ntp.conf"
    path.write_text("old\n")
    (out,) = ansible.play([{"autokey.ntp.ntp_files": {"private_files": [
        {"path": str(path), "content": f"crypto pw {SECRET}\nbroken\n", "mode": "0600", "validate": "false %s"}]}}])
    assert out.failed and "failed validation" in out.msg and str(path) in out.msg, out.output
    assert SECRET not in out.output
    assert path.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["ntp.conf"]  # no temporary file left behind


def test_clear_errors(ansible, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    not_dir, bad_mode, no_parent = ansible.play([
        {"autokey.ntp.ntp_files": {"directories": [str(blocker)]}},
        {"autokey.ntp.ntp_files": {"directories": [str(tmp_path / "d")], "directory_mode": "rwx"}},
        {"autokey.ntp.ntp_files": {"files": [{"path": str(tmp_path / "missing" / "f"), "content": "x"}]}},
    ])
    assert not_dir.failed and "is not a directory" in not_dir.msg
    assert bad_mode.failed and "octal" in bad_mode.msg
    assert no_parent.failed and "does not exist" in no_parent.msg
    assert not (tmp_path / "d").exists()
