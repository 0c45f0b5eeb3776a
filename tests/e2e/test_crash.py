"""The demo's crash on the real devnet contracts: every managed position survives, the watch-only account
alerts, and every alert reaches the loopback webhook and SMTP server exactly once per episode."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from manager.demo.scenario import duplicate_alerts, run_demo
from tests.cli_helpers import posman_here

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_crash_is_survived_and_alerts_arrive_once(tmp_path, capsys):
    result = run_demo(tmp_path, steps=6, out=lambda *a: None)
    assert result.ok, result.problems
    managed = ["cdp", "vault-a", "vault-b", "morpho", "perp"]
    for name in managed:
        assert result.liquidations[name] == 0
        assert result.min_health[name] >= 1.0
        assert any(a["status"] == "confirmed" for a in result.actions[name]), name
        assert all(r.health[name] >= 1.0 for r in result.steps)
    assert result.steps[-1].eth_usd == pytest.approx(1950, abs=1)
    # the watch-only account went liquidatable and said so, once per band change
    watched = [a for a in result.webhook_alerts if a["position"] == "watched"]
    assert [a["kind"] for a in watched] == ["health_warning", "health_critical", "liquidatable"]
    assert result.min_health["watched"] < 1.0 and not result.actions["watched"]
    assert duplicate_alerts(result.webhook_alerts) == []
    executed = Counter(a["fields"]["plan_id"] for a in result.webhook_alerts if a["kind"] == "action_executed")
    assert executed and set(executed.values()) == {1}
    confirmed = sum(a["status"] == "confirmed" for acts in result.actions.values() for a in acts)
    assert sum(executed.values()) == confirmed
    # email and the Slack-format webhook take warning and above: the three watch-only band changes
    warn_plus = [a for a in result.webhook_alerts if a["severity"] in ("warning", "critical")]
    assert len(result.emails) == len(warn_plus) == result.slack_alerts
    assert len(set(result.emails)) == len(result.emails)
    assert any("LIQUIDATABLE" in s for s in result.emails)
    assert (result.report_dir / "health.png").stat().st_size > 10_000
    assert "every managed position survived" in (result.report_dir / "summary.txt").read_text()
    # after the demo its database is kept: `posman alerts` lists every episode the webhook received, and
    # `posman history` shows the transactions of each confirmed action
    assert (tmp_path / "demo.sqlite").is_file()
    listed = json.loads(posman_here(capsys, "alerts", "--config", str(result.config_path), "--json").stdout)
    assert {a["episode_key"] for a in listed} == {a["episode_key"] for a in result.webhook_alerts}
    assert {a["position"] for a in listed} >= {"watched", *managed}
    (watched_episode,) = [a for a in listed if a["position"] == "watched"]
    assert watched_episode["kind"] == "liquidatable" and watched_episode["open"]  # an episode shows its latest band
    hist = json.loads(posman_here(capsys, "history", "cdp", "--config", str(result.config_path), "--json", "--offline").stdout)
    done = [a for a in hist["actions"] if a["status"] == "confirmed"]
    def one_included_per_step(a) -> bool:  # a replaced (fee-bumped) copy of a step may be listed beside it
        steps = {t["step"] for t in a["transactions"]}
        return bool(steps) and all(
            [t["status"] for t in a["transactions"] if t["step"] == i].count("included") == 1
            and all(t["gas_used"] > 0 for t in a["transactions"] if t["step"] == i and t["status"] == "included")
            and all(t["status"] in ("included", "replaced") for t in a["transactions"] if t["step"] == i)
            for i in steps)

    assert done and all(one_included_per_step(a) for a in done), \
        [(a["plan_id"], [(t["step"], t["status"], t["gas_used"]) for t in a["transactions"]]) for a in done]
    observed = [a for a in done if a["health_after"] is not None]  # the last action may settle after the last tick
    assert observed and all(a["health_after"] > a["health_before"] for a in observed)
