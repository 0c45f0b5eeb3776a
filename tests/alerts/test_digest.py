"""The daily digest: built from the database (health now and lowest, actions, alerts, open episodes, paused),
sent once per UTC day through the real engine and dispatcher (recorded like every alert), off by default."""

from __future__ import annotations

from types import SimpleNamespace

from manager.alerts import AlertDispatcher, AlertsConfig, build_channels, engine_from_repository
from manager.alerts.digest import build_digest
from manager.persistence import Database, Repository
from manager.runtime.loop import Alerting
from manager.runtime.scheduler import ManagerScheduler

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
WAD = 10**18


def _repo(tmp_path, now=NOW):
    clock = SimpleNamespace(t=now - 3600)
    repo = Repository(Database(f"sqlite:///{tmp_path / 'd.sqlite'}"), clock=lambda: clock.t)
    for block, hf in ((10, 1.5), (11, 1.21), (12, 1.6)):
        repo.record_snapshot(position="cdp", protocol="aave_v3", account="0xabc", block_number=block,
                             block_timestamp=int(clock.t), health_factor_wad=int(hf * WAD), collateral_usd=1.0,
                             debt_usd=0.5, ltv_bps=8000, liquidation_threshold_bps=8300)
    repo.create_plan("plan-1", position="cdp", block_number=11, steps=[], action="deleverage")
    repo.update_plan_status("plan-1", "simulated")
    repo.update_plan_status("plan-1", "dry_run")
    repo.upsert_alert("health:cdp", kind="health_warning", severity="warning", message="HF 1.21", position="cdp")
    repo.pause_position("vault")
    clock.t = now
    return repo


def test_build_digest(tmp_path):
    repo = _repo(tmp_path)
    title, message, fields = build_digest(repo, ["cdp", "vault"], NOW)
    assert title == "posman daily digest 2027-01-15: 2 position(s), lowest HF 1.2100 (cdp)"
    assert message.splitlines() == [
        "cdp: HF 1.6000 (lowest 1.2100), 1 action(s)",
        "vault: no reading in 24 h",
        "actions: 1 dry_run",
        "alerts: 1 health_warning; open now: 1",
        "paused: vault",
    ]
    assert fields["lowest_health"] == 1.21 and fields["open_alerts"] == 1 and fields["paused"] == 1
    # a day later nothing of it is in the window any more
    _t, later, f2 = build_digest(repo, ["cdp"], NOW + 2 * 86400)
    assert later.splitlines()[0] == "cdp: no reading in 24 h" and f2["actions"] == 0 and f2["alerts"] == 0


def test_digest_is_off_by_default_and_sent_once_a_day(tmp_path):
    assert AlertsConfig().daily_digest is False and AlertsConfig().daily_digest_hour_utc == 8
    repo = _repo(tmp_path)
    cfg = AlertsConfig.model_validate({"daily_digest": True})
    engine = engine_from_repository(repo, cfg.rules, now_s=NOW)
    alerting = Alerting(engine, AlertDispatcher(build_channels(cfg), repo=repo))
    runtime = SimpleNamespace(repo=repo, positions={"cdp": None, "vault": None}, alerting=alerting,
                              cfg=SimpleNamespace(alerts=cfg))
    sched = ManagerScheduler(runtime, lambda: 0, poll_interval_s=1, heartbeat_s=60, clock=lambda: NOW)
    sched.digest()
    assert alerting.sent == 1
    (row,) = [a for a in repo.alerts(limit=10) if a.kind == "daily_digest"]
    assert row.episode_key == "daily_digest:2027-01-15" and "lowest HF 1.2100" in row.title
    sched.digest()  # the same day again (e.g. the job re-run): nothing more
    assert alerting.sent == 1
    # a restarted manager (fresh engine) does not send it twice either: the database has it
    again = Alerting(engine_from_repository(repo, cfg.rules, now_s=NOW), AlertDispatcher(build_channels(cfg), repo=repo))
    runtime.alerting = again
    sched.digest()
    assert again.sent == 0
