"""Readable times and ``--since`` of the report commands; the pause flags of the repository."""

from __future__ import annotations

import pytest

from manager.commands._common import fmt_time, iso_time, parse_since
from manager.errors import ConfigError
from manager.persistence import Database, Repository

NOW = 1_800_000_000.0


def test_times():
    assert fmt_time(NOW) == "2027-01-15 08:00:00 UTC" and iso_time(NOW) == "2027-01-15T08:00:00Z"
    assert fmt_time(None) == "-" and iso_time(None) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("90m", NOW - 5400), ("24h", NOW - 86400), ("7d", NOW - 7 * 86400), ("30s", NOW - 30), ("1w", NOW - 604800),
    ("2027-01-15", NOW - 8 * 3600), ("2027-01-15T08:00", NOW), ("2027-01-15T09:00+01:00", NOW),
    ("2027-01-15T08:00:00Z", NOW), ("1800000000", NOW),
])
def test_since(text, expected):
    assert parse_since(text, NOW) == pytest.approx(expected)


def test_since_refuses_nonsense():
    with pytest.raises(ConfigError, match="expected a duration"):
        parse_since("yesterday", NOW)


def test_pause_state_round_trip(tmp_path):
    repo = Repository(Database(f"sqlite:///{tmp_path / 'p.sqlite'}"), clock=lambda: NOW)
    assert not repo.is_paused("a") and repo.paused_positions() == {}
    repo.pause_position("a", reason="maintenance")
    repo.pause_position("b")
    assert repo.is_paused("a") and not repo.is_paused("c")
    assert repo.paused_positions() == {"a": {"since_s": NOW, "reason": "maintenance"}, "b": {"since_s": NOW, "reason": ""}}
    assert repo.resume_position("a") is True and repo.resume_position("a") is False
    assert list(repo.paused_positions()) == ["b"]
