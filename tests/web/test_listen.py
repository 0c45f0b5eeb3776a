"""``--http HOST:PORT``: loopback by default, anything else only with ``--http-allow-remote``; bad
addresses are one line before anything is built (no database, no chain)."""

from __future__ import annotations

import pytest

from manager.errors import ConfigError
from manager.web.server import parse_listen
from tests.cli_helpers import one_line_error, posman


@pytest.mark.parametrize(("value", "host", "port"), [
    ("127.0.0.1:8787", "127.0.0.1", 8787), ("localhost:0", "127.0.0.1", 0), ("127.0.0.2:80", "127.0.0.2", 80),
    ("[::1]:8787", "::1", 8787),
])
def test_loopback_addresses(value, host, port):
    got = parse_listen(value)
    assert (got.host, got.port, got.loopback) == (host, port, True)


def test_other_hosts_need_the_flag():
    with pytest.raises(ConfigError, match=r"0\.0\.0\.0 is not a loopback address .* pass --http-allow-remote"):
        parse_listen("0.0.0.0:8787")
    with pytest.raises(ConfigError, match="is not a loopback address"):
        parse_listen("192.0.2.7:8787")
    got = parse_listen("0.0.0.0:8787", allow_remote=True)
    assert (got.host, got.port, got.loopback) == ("0.0.0.0", 8787, False)


@pytest.mark.parametrize(("value", "message"), [
    ("8787", "expected HOST:PORT"), (":8787", "the host is missing"), ("127.0.0.1:http", "port 'http' must be a number"),
    ("127.0.0.1:70000", "from 0 to 65535"), ("::1:80", "expected HOST:PORT"), ("example.com:80", "not an IP address"),
])
def test_bad_addresses(value, message):
    with pytest.raises(ConfigError, match=message):
        parse_listen(value)


def test_cli_refuses_before_building_anything(tmp_path):
    cfg = tmp_path / "missing.toml"  # never read: the address is checked first
    err = one_line_error(posman("run", "--config", str(cfg), "--http", "0.0.0.0:8787"))
    assert err == ("error: --http '0.0.0.0:8787': 0.0.0.0 is not a loopback address and the dashboard has no "
                   "authentication; serve it on 127.0.0.1 (e.g. behind an SSH tunnel) or pass --http-allow-remote")
    assert one_line_error(posman("run", "--config", str(cfg), "--http", "127.0.0.1:8787", "--once")) == (
        "error: --http serves a running manager; it cannot be combined with --once")
    assert one_line_error(posman("run", "--config", str(cfg), "--http-allow-remote")) == (
        "error: --http-allow-remote needs --http HOST:PORT")
    assert list(tmp_path.iterdir()) == []
