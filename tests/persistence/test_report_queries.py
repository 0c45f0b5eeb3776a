"""The report queries of ``posman alerts`` / ``history`` / ``pause`` on SQLite and PostgreSQL: alert episodes
since a time (first seen, resolved or still open then) and of an action's time span, the snapshots around an
action, decisions by id, and the pause flags."""

from __future__ import annotations

from manager.domain import SizingDecision

WAD = 10**18


def _snap(repo, block, hf):
    repo.record_snapshot(position="p", protocol="aave_v3", account="0xabc", block_number=block,
                         block_timestamp=1000 + block, health_factor_wad=int(hf * WAD), collateral_usd=1.0,
                         debt_usd=0.5, ltv_bps=8000, liquidation_threshold_bps=8300)


def test_alerts_since_and_between(repo, clock):
    t0 = clock()
    repo.upsert_alert("a", kind="health_warning", severity="warning", message="old, resolved", position="p")
    repo.resolve_alert("a", now_s=t0 + 10)
    repo.upsert_alert("b", kind="stale_oracle", severity="warning", message="old, still open", position="q",
                      now_s=t0 + 20)
    repo.upsert_alert("c", kind="liquidatable", severity="critical", message="new", position="p", now_s=t0 + 100)
    keys = [a.episode_key for a in repo.alerts()]
    assert keys == ["c", "b", "a"]  # newest first
    assert [a.episode_key for a in repo.alerts(since_s=t0 + 50)] == ["c", "b"]  # b is still open
    assert [a.episode_key for a in repo.alerts(since_s=t0 + 5)] == ["c", "b", "a"]  # a resolved after t0+5
    assert [a.episode_key for a in repo.alerts(position="p")] == ["c", "a"]
    assert [a.episode_key for a in repo.alerts(limit=1)] == ["c"]
    assert [a.episode_key for a in repo.alerts_between("p", t0 + 1, t0 + 5)] == ["a"]
    assert [a.episode_key for a in repo.alerts_between("p", t0 + 50, t0 + 200)] == ["c"]
    assert repo.alerts_between("p", t0 + 11, t0 + 50) == []


def test_snapshot_near_and_decisions_by_id(repo):
    for block, hf in ((10, 1.3), (12, 1.25), (15, 1.6)):
        _snap(repo, block, hf)
    assert repo.snapshot_near("p", 12, after=False).block_number == 12
    assert repo.snapshot_near("p", 13, after=False).block_number == 12
    assert repo.snapshot_near("p", 12, after=True).block_number == 15
    assert repo.snapshot_near("p", 15, after=True) is None and repo.snapshot_near("p", 9, after=False) is None
    d = repo.record_decision(SizingDecision(position="p", action="deleverage", reason="HF below trigger",
                                            block_number=12, health_before=1.25))
    assert repo.decisions_by_id([d.id, d.id])[d.id].health_before == 1.25
    assert repo.decisions_by_id([]) == {}


def test_pause_flags(repo):
    repo.pause_position("p", reason="x")
    assert repo.is_paused("p") and list(repo.paused_positions()) == ["p"]
    assert repo.resume_position("p") and not repo.is_paused("p")
