"""The tick orchestration with a fake reader: isolation of failures, one decision line, data quality,
alerts, plans handed to the executor, state kept across a restart."""

from __future__ import annotations

import logging
import threading
import time
import types

import pytest

from manager.alerts import AlertDispatcher, AlertRules, HealthAlertRules, engine_from_repository
from manager.alerts.channels import Channel
from manager.errors import RpcError
from manager.persistence import Database, Repository
from manager.protocols.aave_v3.plan import PlanContext
from manager.runtime.loop import Alerting, ManagedPosition, Runtime
from manager.runtime.scheduler import ManagerScheduler
from strategies import alert_only, cdp_health
from strategies.api import LoadedStrategy
from tests.sizing.builders import a1

from .fakes import FakeExecutor, FakeReader, FakeTick, oracle

ACCOUNT = "0x00000000000000000000000000000000000000aa"
POOL = "0x" + "22" * 20
ROUTER = "0x" + "33" * 20


class Recorder(Channel):
    def __init__(self) -> None:
        super().__init__("rec")
        self.alerts: list = []

    def send(self, alert) -> None:
        self.alerts.append(alert)


def _cfg():
    limits = types.SimpleNamespace(per_tx_usd=1e6, per_day_usd=5e6, max_slippage_bps=100)
    return types.SimpleNamespace(limits=limits)


def _strategy(name: str):
    if name == "cdp":
        return LoadedStrategy("cdp_health", cdp_health, cdp_health.Config(trigger_health=1.3, target_health=1.5))
    return LoadedStrategy("alert_only", alert_only, alert_only.Config())


@pytest.fixture
def repo(tmp_path):
    return Repository(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"), clock=lambda: 1_700_000_000.0)


def make_runtime(repo, reader, positions, *, channel=None, rules=None):
    channel = channel or Recorder()
    rules = rules or AlertRules(health=HealthAlertRules(min_persistence_ticks=1))
    engine = engine_from_repository(repo, rules, now_s=1_700_000_000.0)
    runtime = Runtime(_cfg(), reader=reader, repo=repo, positions=positions,
                      alerting=Alerting(engine, AlertDispatcher([channel], repo=repo)), clock=lambda: 1_700_000_000.0)
    return runtime, channel


def managed(name: str, executor) -> ManagedPosition:
    return ManagedPosition(name=name, mode="manage", strategy=_strategy("cdp"), executor=executor,
                           plan_context=PlanContext(pool=POOL, router=ROUTER, account=ACCOUNT, max_slippage_bps=100))


def tick_of(block: int, **positions) -> FakeTick:
    snaps = {n: s.model_copy(update={"name": n, "block_number": block}) for n, s in positions.items()}
    return FakeTick(block_number=block, block_timestamp=1_700_000_000 + block, snapshots=snaps,
                    oracles={"WETH": oracle("WETH", 1500), "USDC": oracle("USDC", 1)})


def test_low_health_is_deleveraged_and_logged_once_per_decision(repo, caplog):
    ex = FakeExecutor()
    low = a1(weth_price_base=1500 * 10**8)
    runtime, channel = make_runtime(repo, FakeReader([tick_of(100, m=low)]), [managed("m", ex)])
    with caplog.at_level(logging.INFO, logger="posman.runtime"):
        report = runtime.tick()
    assert report.ok and report.positions["m"].status == "confirmed"
    (plan,) = ex.plans
    assert plan.kind == "deleverage" and plan.position == "m" and plan.block_number == 100
    assert [s.kind for s in plan.steps[:4]] == ["withdraw", "approve", "swap", "approve"]
    assert plan.steps[-1].kind == "repay"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=decision ")]
    assert len(lines) == 1
    for key in ("position=m", "block=100", "strategy=cdp_health", "inputs=", "action=deleverage", "target=1.5000",
                "binding=", "reason="):
        assert key in lines[0]
    kinds = [a.kind for a in channel.alerts]
    assert "health_warning" in kinds and "action_executed" in kinds
    assert repo.decisions_for("m")[0].action == "deleverage"
    assert repo.last_processed_block() == 100
    assert repo.get_state("last_action:m") == {"block": 100, "timestamp_s": 1_700_000_100.0}


def test_one_failing_position_does_not_stop_the_others(repo, caplog):
    ex = FakeExecutor()
    low = a1(weth_price_base=1500 * 10**8)
    broken = LoadedStrategy("broken", types.SimpleNamespace(decide=lambda c, s, x: 1 / 0), cdp_health.Config(
        trigger_health=1.3, target_health=1.5))
    data = tick_of(100, a=low, b=low, c=low)
    data = FakeTick(**{**data.__dict__, "errors": {"c": "multicall failed"}})
    del data.snapshots["c"]
    positions = [ManagedPosition("a", "manage", broken), managed("b", ex),
                 ManagedPosition("c", "manage", _strategy("cdp"))]
    runtime, _ = make_runtime(repo, FakeReader([data]), positions)
    report = runtime.tick()
    assert report.ok
    assert report.positions["a"].status == "error" and "ZeroDivisionError" in report.positions["a"].reason
    assert report.positions["b"].status == "confirmed" and len(ex.plans) == 1
    assert report.positions["c"].status == "error" and report.positions["c"].reason == "multicall failed"


def test_stale_oracle_skips_acting_and_alerts(repo):
    ex = FakeExecutor()
    low = a1(weth_price_base=1500 * 10**8)
    data = tick_of(100, m=low)
    data.oracles["WETH"] = oracle("WETH", 1500, stale=True)
    runtime, channel = make_runtime(repo, FakeReader([data]), [managed("m", ex)])
    report = runtime.tick()
    assert report.positions["m"].status == "skipped" and "WETH" in report.positions["m"].reason
    assert ex.plans == []
    assert any(a.kind == "stale_oracle" for a in channel.alerts)


def test_watch_mode_and_alert_only_never_plan(repo):
    low = a1(weth_price_base=1500 * 10**8)
    positions = [ManagedPosition("w", "watch", _strategy("cdp")), ManagedPosition("x", "watch", _strategy("alert"))]
    runtime, channel = make_runtime(repo, FakeReader([tick_of(100, w=low, x=low)]), positions)
    report = runtime.tick()
    assert report.positions["w"].status == "watch" and report.positions["w"].action == "deleverage"
    assert report.positions["x"].status == "none" and report.positions["x"].action == "none"
    assert {a.position for a in channel.alerts if a.kind.startswith("health")} == {"w", "x"}


def test_refused_and_failed_actions_alert_once(repo):
    ex = FakeExecutor(status="refused", reason="policy: too big")
    low = a1(weth_price_base=1500 * 10**8)
    runtime, channel = make_runtime(repo, FakeReader([tick_of(100, m=low)]), [managed("m", ex)])
    runtime.tick()
    runtime.tick()  # same block, same plan id: the event is not sent twice
    refused = [a for a in channel.alerts if a.kind == "action_refused"]
    assert len(refused) == 1 and "policy: too big" in refused[0].message
    assert repo.get_state("last_action:m") is None  # nothing was sent: no cooldown


def test_a_failed_read_counts_as_a_failed_tick(repo):
    runtime, _ = make_runtime(repo, FakeReader([RpcError("timeout")]), [])
    report = runtime.tick(7)
    assert not report.ok and "timeout" in report.error
    assert repo.last_processed_block() is None


def test_restart_sends_no_alert_storm(repo):
    low = a1(weth_price_base=1500 * 10**8)
    ex = FakeExecutor(status="dry_run")
    runtime, channel = make_runtime(repo, FakeReader([tick_of(100, m=low)]), [managed("m", ex)])
    runtime.tick()
    first = [a.kind for a in channel.alerts]
    assert "health_warning" in first
    again, channel2 = make_runtime(repo, FakeReader([tick_of(101, m=low)]), [managed("m", FakeExecutor("dry_run"))])
    again.tick()
    assert [a.kind for a in channel2.alerts if a.kind.startswith("health")] == []


def test_scheduler_ticks_each_new_block_and_never_overlaps(repo):
    low = a1(weth_price_base=2000 * 10**8)
    head = {"n": 10}
    running = {"now": 0, "max": 0}
    reader = FakeReader([tick_of(10, m=low)])
    runtime, _ = make_runtime(repo, reader, [ManagedPosition("m", "watch", _strategy("alert"))])
    real_tick = runtime.tick
    blocks: list[int] = []

    def slow_tick(block=None):
        running["now"] += 1
        running["max"] = max(running["max"], running["now"])
        time.sleep(0.15)
        seen = head["n"]  # the reader reads the head itself
        reader.ticks = [tick_of(seen, m=low)]
        blocks.append(seen)
        try:
            return real_tick(block)
        finally:
            running["now"] -= 1

    runtime.tick = slow_tick  # type: ignore[method-assign]
    sched = ManagerScheduler(runtime, lambda: head["n"], poll_interval_s=0.02, heartbeat_s=60)
    sched.start()
    try:
        deadline = time.monotonic() + 5
        while runtime.ticks < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(3):
            head["n"] += 1
            time.sleep(0.05)
        deadline = time.monotonic() + 5
        while repo.last_processed_block() != head["n"] and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sched.shutdown()
    assert running["max"] == 1
    assert blocks[0] == 10 and blocks[-1] == 13 and blocks == sorted(set(blocks))
    assert threading.active_count() >= 1
