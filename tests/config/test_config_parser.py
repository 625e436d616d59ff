"""ntp.conf parsing: the reference vectors' files, the Archambault guide's example, diagnostics, includes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpd_py.config import model, parser
from ntpd_py.config.model import Diagnostic

FIXTURES = Path(__file__).parent / "fixtures"


def parse(text: str, tmp_path: Path | None = None) -> parser.ParseResult:
    return parser.parse_text(text, file="ntp.conf", base_dir=tmp_path)


def test_every_vector_config_parses_cleanly(vectors: Path) -> None:
    configs = sorted(vectors.glob("*/*/ntp.conf"))
    assert len(configs) >= 14
    for path in configs:
        result = parser.parse_file(path)
        assert result.diagnostics == [], path
        cfg = result.config
        assert "ntp" not in cfg.enabled and "kernel" not in cfg.enabled
        assert cfg.crypto.present and cfg.crypto.host in ("alice", "bob")
        assert cfg.statistics == ["cryptostats", "peerstats", "protostats"]
        assert cfg.filegen("cryptostats") == model.Filegen(
            name="cryptostats", file="cryptostats", type="none", link=True, enabled=True,
            origin=model.Origin(str(path), cfg.filegen("cryptostats").origin.line))  # type: ignore[union-attr]
        assert cfg.tos["orphanwait"] == 1


def test_vector_bob_server_line(vectors: Path) -> None:
    cfg = parser.load(vectors / "gq" / "bob" / "ntp.conf")
    (server,) = cfg.associations
    assert (server.kind, server.address, server.iburst, server.autokey, server.ident) == (
        "server", "10.99.0.1", True, True, "alice")
    assert (server.minpoll, server.maxpoll, server.key) == (6, 10, None)
    assert server.origin.line == 13 and server.origin.file.endswith("gq/bob/ntp.conf")
    assert cfg.crypto.pw == "clientpw" and cfg.keysdir == "/var/lib/ntplab/gq/bob/keys"
    assert cfg.tos == {"orphan": 10, "orphanwait": 1}
    assert cfg.statsdir == "/var/lib/ntplab/gq/bob/stats/"


def test_archambault_example() -> None:
    """The guide's example ntp.conf, verbatim: everything parses except its typo 'nmodify' (as ntpd)."""
    path = FIXTURES / "archambault_example.conf"
    result = parser.parse_file(path)
    assert [str(d) for d in result.diagnostics] == [f"{path}:74: error: restrict: unknown flag 'nmodify'"]
    cfg = result.config
    assert [a.address for a in cfg.associations] == [
        "193.55.167.1", "81.19.16.225", "80.74.64.1", "192.168.1.11", "127.127.1.0"]
    assert cfg.associations[-1].is_refclock
    (fudge,) = cfg.fudges
    assert (fudge.address, fudge.stratum, fudge.refid) == ("127.127.1.0", 2, "Port")
    assert cfg.driftfile == "/etc/ntp/ntp.drift" and cfg.keysdir == "/etc/ntp/"
    assert (cfg.crypto.present, cfg.crypto.pw, cfg.crypto.ident) == (True, "private", "GR1")
    default = cfg.restricts[0]
    assert default.is_default and default.flags == {"limited", "noserve", "kod", "nopeer", "nomodify", "notrap"}
    assert len(cfg.restricts) == 15  # 16 lines, the nmodify one dropped
    local = next(r for r in cfg.restricts if r.address == "127.0.0.1")
    assert local.mask == "255.0.0.0" and not local.flags
    assert cfg.logfile == "/var/log/ntpd.log" and cfg.statsdir == "/var/log/ntpstats/"
    assert cfg.statistics == ["loopstats", "peerstats", "sysstats", "cryptostats"]
    for name in cfg.statistics:
        fg = cfg.filegen(name)
        assert (fg.file, fg.type, fg.enabled, fg.link) == (name, "week", True, True)
    assert parser.check(path) == result.diagnostics


def test_every_documented_directive() -> None:
    text = """
server -4 ntp.example.org iburst burst minpoll 4 maxpoll 12 prefer key 5 version 3 autokey ident GR1 noselect true
peer 10.0.0.2 autokey
pool pool.ntp.org iburst
broadcast 192.168.1.255 autokey ttl 2
manycastclient 239.1.1.1 autokey maxpoll 12 ttl 1
broadcastclient
manycastserver 239.1.1.1
server 127.127.1.0
fudge 127.127.1.0 stratum 10 refid LOCL time1 0.5 flag1 1
driftfile /var/lib/ntp/drift
logfile /var/log/ntp.log
statsdir /var/log/ntpstats/
statistics loopstats peerstats
filegen peerstats file peers type day nolink disable
filegen sysstats type age enable
crypto cert c.pem leap l randfile /dev/urandom host alice sign s iffpar i gqpar g mvpar m pw secret ident GR1 digest sha1
keysdir /etc/ntp/keys
keys /etc/ntp/keys/ntp.keys
trustedkey 1 3-5 (10 ... 12)
controlkey 3
requestkey 4
autokey 10
revoke 16
restrict default kod limited nomodify notrap nopeer noquery
restrict -6 default ignore
restrict 10.0.0.0 mask 255.0.0.0 lowpriotrap noserve notrust ntpport version nomrulist
restrict source nomodify
discard average 3 minimum 1 monitor 3000
tos orphan 5 orphanwait 1 minclock 3 maxclock 10 minsane 1 mindist 0.001 maxdist 1.5 ceiling 15 floor 1 cohort 0 beacon 3600
enable auth bclient calibrate kernel monitor ntp pps stats
disable monitor pps
interface listen 127.0.0.7
interface ignore wildcard
interface drop ::1
interface listen 10.0.0.0/8
interface listen all
leapfile /etc/ntp/leap-seconds.list
tinker panic 0 step 0.128
port 10123
"""
    result = parse(text)
    assert result.diagnostics == []
    cfg = result.config
    srv = cfg.associations[0]
    assert (srv.ipv, srv.address, srv.iburst, srv.burst, srv.minpoll, srv.maxpoll, srv.prefer, srv.key,
            srv.version, srv.autokey, srv.ident, srv.noselect, srv.true) == (
        4, "ntp.example.org", True, True, 4, 12, True, 5, 3, True, "GR1", True, True)
    assert [a.kind for a in cfg.associations] == ["server", "peer", "pool", "broadcast", "manycastclient", "server"]
    assert cfg.associations[3].ttl == 2
    assert cfg.broadcastclient and cfg.manycastservers == ["239.1.1.1"]
    assert cfg.fudges[0].flags == {"flag1": 1} and cfg.fudges[0].time1 == 0.5
    assert cfg.filegen("peerstats") == model.Filegen("peerstats", "peers", "day", False, False, cfg.filegen("peerstats").origin)
    assert cfg.filegen("sysstats").type == "age" and cfg.filegen("sysstats").enabled
    assert cfg.filegen("loopstats").enabled
    c = cfg.crypto
    assert (c.cert, c.leap, c.randfile, c.host, c.sign, c.iffpar, c.gqpar, c.mvpar, c.pw, c.ident, c.digest) == (
        "c.pem", "l", "/dev/urandom", "alice", "s", "i", "g", "m", "secret", "GR1", "sha1")
    assert cfg.trustedkeys == {1, 3, 4, 5, 10, 11, 12}
    assert (cfg.controlkey, cfg.requestkey, cfg.autokey, cfg.revoke) == (3, 4, 10, 16)
    assert cfg.restricts[1].ipv == 6 and cfg.restricts[1].flags == {"ignore"}
    assert cfg.restricts[2].mask == "255.0.0.0" and "nomrulist" in cfg.restricts[2].flags
    assert cfg.restricts[3].address == "source"
    assert cfg.discard == {"average": 3, "minimum": 1, "monitor": 3000}
    assert cfg.tos["orphan"] == 5 and cfg.tos["maxdist"] == 1.5 and cfg.tos["beacon"] == 3600
    assert cfg.enabled == {"auth", "bclient", "calibrate", "kernel", "ntp", "stats"}
    assert cfg.discipline
    assert [(i.action, i.target) for i in cfg.interfaces] == [
        ("listen", "127.0.0.7"), ("ignore", "wildcard"), ("drop", "::1"), ("listen", "10.0.0.0/8"), ("listen", "all")]
    assert cfg.leapfile == "/etc/ntp/leap-seconds.list"
    assert cfg.tinker == {"panic": 0, "step": 0.128}
    assert cfg.port == 10123 and cfg.listen_port == 10123
    assert cfg.origins["port"] == model.Origin("ntp.conf", 40)


def test_defaults_match_ntpd() -> None:
    cfg = parse("server 10.0.0.1\n").config
    (srv,) = cfg.associations
    assert (srv.minpoll, srv.maxpoll, srv.version, srv.key) == (6, 10, 4, None)
    assert cfg.autokey == 12 and cfg.revoke == 17
    assert cfg.listen_port == 123
    assert not cfg.discipline  # our deliberate difference: no clock discipline unless `enable ntp`
    assert cfg.filegen("peerstats") == model.Filegen("peerstats", "peerstats", "day", True, False, None)
    assert parse("autokey\nrevoke\n").config.autokey == 12
    assert parse("autokey\nrevoke\n").config.revoke == 17


@pytest.mark.parametrize(("line", "message"), [
    ("server", "server: missing argument"),
    ("server 10.0.0.300", "server: bad address '10.0.0.300'"),
    ("server bad_host!name", "server: bad address 'bad_host!name'"),
    ("server 10.0.0.1 minpoll", "server minpoll: missing argument"),
    ("server 10.0.0.1 minpoll six", "server minpoll: bad number 'six'"),
    ("server 10.0.0.1 key 0", "server key: 0 is out of range [1-65535]"),
    ("server 10.0.0.1 minpoll 8 maxpoll 6", "server: minpoll 8 is greater than maxpoll 6"),
    ("server 10.0.0.1 frobnicate", "server: unknown option 'frobnicate'"),
    ("restrict 10.0.0.1 mask 255.0.0", "restrict mask: bad address '255.0.0'"),
    ("restrict default nmodify", "restrict: unknown flag 'nmodify'"),
    ("fudge 10.0.0.1 stratum 3", "fudge: 10.0.0.1 is not a reference clock address (127.127.t.u)"),
    ("fudge 127.127.1.0 stratum", "fudge: option 'stratum' is missing its value"),
    ("fudge 127.127.1.0 stratum 16", "fudge stratum: 16 is out of range [0-15]"),
    ("filegen peerstats type fortnight", "filegen peerstats: unknown type 'fortnight' (one of none, pid, day, week, month, year, age)"),
    ("filegen nosuchstats enable", "filegen: unknown statistics set 'nosuchstats'"),
    ("statistics loopstats bogus", "statistics: unknown statistics set 'bogus'"),
    ("crypto pw", "crypto: option 'pw' is missing its value"),
    ("crypto password x", "crypto: unknown option 'password'"),
    ("trustedkey 5-2", "trustedkey: empty range 5-2"),
    ("trustedkey 70000", "trustedkey: 70000 is out of range [1-65535]"),
    ("controlkey", "controlkey: missing argument"),
    ("tos orphan x", "tos orphan: bad number 'x'"),
    ("tos orphan 20", "tos orphan: 20 is out of range [0-16]"),
    ("tos nosuch 1", "tos: unknown option 'nosuch'"),
    ("enable warp", "enable: unknown flag 'warp'"),
    ("interface listen 10.0.0.256", "interface: bad address '10.0.0.256'"),
    ("interface shout all", "interface: unknown action 'shout' (listen, ignore or drop)"),
    ("port 0", "port: 0 is out of range [1-65535]"),
    ("port", "port: expected one port number"),
    ("discard average", "discard: option 'average' is missing its value"),
    ('crypto pw "unterminated', "unterminated quoted string"),
    ("includefile /nonexistent/ntp.inc", "includefile: cannot read /nonexistent/ntp.inc: No such file or directory"),
])
def test_malformed_lines_are_errors_with_file_and_line(line: str, message: str) -> None:
    result = parse(f"# comment\n\n{line}\n")
    assert [str(d) for d in result.diagnostics] == [f"ntp.conf:3: error: {message}"]


def test_unknown_directive_is_a_warning_and_parsing_goes_on() -> None:
    result = parse("frobnicate 1 2\nserver 10.0.0.1\nbroadcastdelay 0.008\n")
    assert result.diagnostics == [Diagnostic("ntp.conf", 1, "warning", "unknown directive 'frobnicate', line ignored")]
    assert str(result.diagnostics[0]) == "ntp.conf:1: warning: unknown directive 'frobnicate', line ignored"
    assert result.warnings and not result.errors and not result.ok
    assert result.config.associations[0].address == "10.0.0.1"


def test_minpoll_out_of_range_is_clamped_with_a_warning() -> None:
    result = parse("server 10.0.0.1 minpoll 1 maxpoll 20\n")
    assert [d.severity for d in result.diagnostics] == ["warning", "warning"]
    srv = result.config.associations[0]
    assert (srv.minpoll, srv.maxpoll) == (3, 17)


def test_comments_and_quoted_strings() -> None:
    cfg = parse('crypto pw "pass # word" host alice # trailing comment\n').config
    assert cfg.crypto.pw == "pass # word" and cfg.crypto.host == "alice"


def test_includefile_reports_the_included_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "servers.conf").write_text("server 10.0.0.1 iburst\nserver 10.0.0.999\nbogus\n")
    main = tmp_path / "ntp.conf"
    main.write_text("driftfile /tmp/drift\nincludefile sub/servers.conf\nserver 10.0.0.2\n")
    result = parser.parse_file(main)
    inc = str(tmp_path / "sub" / "servers.conf")
    assert [str(d) for d in result.diagnostics] == [
        f"{inc}:2: error: server: bad address '10.0.0.999'",
        f"{inc}:3: warning: unknown directive 'bogus', line ignored",
    ]
    cfg = result.config
    assert [a.address for a in cfg.associations] == ["10.0.0.1", "10.0.0.2"]
    assert cfg.associations[0].origin == model.Origin(inc, 1)
    assert cfg.associations[1].origin == model.Origin(str(main), 3)
    assert cfg.included == [inc]


def test_recursive_includes_and_loops(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text(f"includefile {tmp_path}/b.conf\nserver 10.0.0.1\n")
    (tmp_path / "b.conf").write_text(f"includefile {tmp_path}/c.conf\n")
    (tmp_path / "c.conf").write_text(f"server 10.0.0.3\nincludefile {tmp_path}/a.conf\n")
    result = parser.parse_file(tmp_path / "a.conf")
    assert [str(d) for d in result.diagnostics] == [
        f"{tmp_path}/c.conf:2: error: includefile: {tmp_path}/a.conf includes itself"]
    assert [a.address for a in result.config.associations] == ["10.0.0.3", "10.0.0.1"]


def test_load_raises_with_every_error_and_check_lists_them(tmp_path: Path) -> None:
    path = tmp_path / "ntp.conf"
    path.write_text("server\nunknownthing\nrestrict default bogus\n")
    with pytest.raises(parser.ConfigError) as info:
        parser.load(path)
    assert [d.line for d in info.value.diagnostics] == [1, 2, 3]
    assert f"{path}:1: error: server: missing argument" in str(info.value)
    assert [d.severity for d in parser.check(path)] == ["error", "warning", "error"]
    path.write_text("unknownthing\n")
    assert parser.load(path).associations == []  # warnings alone do not stop the daemon


def test_missing_file() -> None:
    diags = parser.check("/nonexistent/ntp.conf")
    assert [str(d) for d in diags] == ["/nonexistent/ntp.conf:0: error: cannot read /nonexistent/ntp.conf: No such file or directory"]


def test_hostnames_are_kept_for_the_daemon() -> None:
    cfg = parse("server time.example.org.\npeer alice\nserver ::1\nserver fe80::1%eth0\n").config
    assert [a.address for a in cfg.associations] == ["time.example.org.", "alice", "::1", "fe80::1%eth0"]


def test_openvms_guide_trusted_root_and_authentication_statements() -> None:
    """The OpenVMS guide's isolated trusted root and its authentication statements (13.7)."""
    text = """server 127.127.1.0 prefer
fudge 127.127.1.0 stratum 0
keysdir SYS$SPECIFIC:[TCPIP$NTP]
crypto pw littlesecret
server alice autokey
keys SYS$SPECIFIC:[TCPIP$NTP]TCPIP$NTP.KEYS
trustedkey 1 2 15
controlkey 15
requestkey 15
autokey 12
revoke 16
"""
    result = parse(text)
    assert result.diagnostics == []
    cfg = result.config
    root, alice = cfg.associations
    assert root.is_refclock and root.prefer and cfg.fudges[0].stratum == 0
    assert (alice.address, alice.autokey) == ("alice", True)
    assert cfg.keysdir == "SYS$SPECIFIC:[TCPIP$NTP]" and cfg.crypto.pw == "littlesecret"
    assert cfg.trustedkeys == {1, 2, 15} and cfg.controlkey == cfg.requestkey == 15
    assert (cfg.autokey, cfg.revoke) == (12, 16)


def test_ntpd_directives_we_do_not_act_on_are_named_as_such() -> None:
    result = parse("multicastclient 224.0.1.1\nsetvar foo = bar\npidfile /run/ntpd.pid\n")
    assert [str(d) for d in result.diagnostics] == [
        "ntp.conf:1: warning: ntpd directive 'multicastclient' is not supported by ntpd-py, line ignored",
        "ntp.conf:2: warning: ntpd directive 'setvar' is not supported by ntpd-py, line ignored",
    ]
    assert result.config.pidfile == "/run/ntpd.pid"


_WORDS = ["server", "peer", "restrict", "fudge", "crypto", "filegen", "tos", "enable", "trustedkey", "interface",
          "127.127.1.0", "10.0.0.1", "default", "mask", "minpoll", "key", "type", "week", "pw", "-4", "(1", "...",
          "5)", "1-3", '"q w"', "#", "0x10", "nan", "1e999", "-1", "::1", "statistics", "port", "includefile"]


@given(st.lists(st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=8)), max_size=8), max_size=20))
@settings(max_examples=200, deadline=None)
def test_parser_never_crashes(lines: list[list[str]]) -> None:
    """Any text gives a model and diagnostics, never an exception; every diagnostic names a real line."""
    text = "\n".join(" ".join(words) for words in lines).replace("includefile", "include_file")
    result = parser.parse_text(text, file="fuzz.conf")
    count = len(text.splitlines())
    assert all(d.file == "fuzz.conf" and 1 <= d.line <= count for d in result.diagnostics)
