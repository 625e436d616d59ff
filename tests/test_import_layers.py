"""The import-layer contract of ntpd_py (issue 13): a package imports only from the layers below its own.

    daemon                                  the asyncio shell, CLIs of the daemon
    autokey | control                       protocol extensions and mode 6 (independent of each other)
    engine                                  the sans-IO host
    clock | wire | keys | config            pure building blocks (independent of each other)
    symkeys                                 symmetric keys and MACs (keys writes ntp-keygen -M's file with it)
    ntptime | protocol                      time scales and protocol numbers
    pcap                                    a stand-alone tool reader: imports nothing of ours

Every import counts, including the ones inside
functions.  Checked with the standard library's ast so that CI needs nothing more; import-linter would say
the same with a `layers` contract.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "ntpd_py"
LAYERS: list[set[str]] = [
    {"daemon"},
    {"autokey", "control"},
    {"engine"},
    {"clock", "wire", "keys", "config"},
    {"symkeys"},
    {"ntptime", "protocol"},
]
STANDALONE = {"pcap"}
# Known violations, each with the change that ends it.  A listed import that no longer exists fails the test
# too, so the list can only shrink (drop an entry when its fix lands on main).  Empty since ControlView moved
# into control/view.py, the value formats into wire/control_values.py and control.prometheus stopped importing
# autokey (issue 13).
KNOWN: set[tuple[str, str]] = set()


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise AssertionError(f"ntpd_py.{package} is in no layer: add it to LAYERS in {__file__}")


def imports() -> set[tuple[str, str]]:
    """(importing module, imported ntpd_py package) for every import statement of the package."""
    found = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package_parts = rel.parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = list(package_parts[: len(package_parts) - node.level + 1])
                    targets.append(".".join(base + ([node.module] if node.module else [])))
                else:
                    targets.append(node.module or "")
            elif isinstance(node, ast.Import):
                targets.extend(alias.name for alias in node.names)
            for target in targets:
                if target.startswith("ntpd_py.") and _package(target) != _package(module):
                    found.add((module, "ntpd_py." + _package(target)))
    return found


def violations(found: set[tuple[str, str]] | None = None) -> set[tuple[str, str]]:
    out = set()
    for module, target in imports() if found is None else found:
        source, imported = _package(module), _package(target)
        if source in STANDALONE or imported in STANDALONE:
            out.add((module, target))
        elif source and _layer(imported) <= _layer(source):
            out.add((module, target))
    return out


def test_every_package_has_a_layer():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    for package in packages - STANDALONE:
        _layer(package)


def test_imports_go_down_the_layers_only():
    new = violations() - KNOWN
    assert not new, "imports against the layers (move the shared thing down, or invert the dependency):\n" + "\n".join(
        f"  {a} imports {b}" for a, b in sorted(new))


def test_known_violations_are_still_real():
    """When a known violation is fixed, its entry must go (the contract only tightens)."""
    gone = KNOWN - violations()
    assert not gone, f"fixed, remove from KNOWN: {sorted(gone)}"


def test_the_checker_sees_a_violation():
    """The checker itself can fail: an engine module importing the daemon is caught."""
    upward = {("ntpd_py.engine.host", "ntpd_py.daemon"), ("ntpd_py.wire.packet", "ntpd_py.clock"),
              ("ntpd_py.autokey.authenticator", "ntpd_py.control"), ("ntpd_py.pcap", "ntpd_py.wire")}
    downward = {("ntpd_py.engine.host", "ntpd_py.wire"), ("ntpd_py.daemon.main", "ntpd_py.autokey"),
                ("ntpd_py.keys.cert", "ntpd_py.ntptime")}
    assert violations(upward | downward) == upward
