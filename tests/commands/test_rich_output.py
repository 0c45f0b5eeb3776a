"""On a terminal (forced here with POSMAN_RICH=1) `posman status` prints a rich table, riskiest first and
coloured by band; piped or with --json the output stays the plain/JSON one scripts read."""

from __future__ import annotations

import json
import re

from tests.cli_helpers import posman_here

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RICH = {"POSMAN_RICH": "1", "FORCE_COLOR": "1", "COLUMNS": "260", "POSMAN_PLAIN": ""}


def test_status_rich_table_sorted_by_risk(live, capsys, monkeypatch):
    _net, d, _info = live
    cfg = str(d / "devnet.toml")
    for key, value in RICH.items():
        monkeypatch.setenv(key, value)
    rows = json.loads(posman_here(capsys, "status", "--config", cfg, "--json").stdout)  # --json stays JSON
    proc = posman_here(capsys, "status", "--config", cfg)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" in proc.stdout  # coloured
    text = ANSI.sub("", proc.stdout)
    lines = [ln for ln in text.splitlines() if ln.startswith("│")]
    names = [ln.split("│")[1].strip() for ln in lines]
    assert sorted(names) == sorted(r["name"] for r in rows)
    dist = {r["name"]: r["distance_to_liquidation_pct"] for r in rows}
    hf = {r["name"]: r["health_factor"] for r in rows}
    # the warning band (HF < 1.3, the default rules) comes first, each band by distance to liquidation
    warn = [n for n in names if hf[n] is not None and hf[n] < 1.3 and not n.startswith("perp_")]
    assert names[: len(warn)] == warn and warn == sorted(warn, key=lambda n: dist[n]) and "carol" in warn
    assert all(ln.rstrip().endswith("warning │") for ln in lines[: len(warn)])
    monkeypatch.delenv("POSMAN_RICH")
    plain = posman_here(capsys, "status", "--config", cfg)  # not a terminal: the plain table, config order
    assert "\x1b[" not in plain.stdout and plain.stdout.splitlines()[1].split()[0] == "position"
