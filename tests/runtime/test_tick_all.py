"""One tick for every position: all decide at one block and act in that tick, signers concurrently, most
urgent first; a refused plan is never sent again unchanged and no plan outlives its tick; a refusal
repeated every block alerts once and ends with one "recovered"; a dead webhook (refusing or hanging)
never slows a tick."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from manager.alerts import AlertDispatcher, AlertRules, HealthAlertRules, engine_from_repository
from manager.alerts.channels import WebhookChannel
from manager.persistence import Database, Repository
from manager.runtime.loop import Alerting, ManagedPosition, Runtime
from strategies import cdp_health
from strategies.api import LoadedStrategy
from tests.sizing.builders import a1

from .fakes import FakeExecutor, FakeReader
from .test_loop import Recorder, _cfg, make_runtime, managed, tick_of

T0 = 1_700_000_000.0


@pytest.fixture
def repo(tmp_path):
    return Repository(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"), clock=lambda: T0)


def eager(name: str, executor) -> ManagedPosition:
    """A managed ``cdp_health`` position without a cooldown (it would act at every block)."""
    pos = managed(name, executor)
    pos.strategy = LoadedStrategy("cdp_health", cdp_health, cdp_health.Config(trigger_health=1.3, target_health=1.5,
                                                                             cooldown_s=0))
    return pos


class BarrierExecutor(FakeExecutor):
    """Each signer's executor waits for the others inside ``execute``: only concurrent sends get through."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__(status="submitted")
        self.barrier = barrier
        self.threads: set[str] = set()

    def execute(self, plan, **kw):
        if len(self.plans) == 0:
            self.barrier.wait(timeout=10)
        self.threads.add(threading.current_thread().name)
        return super().execute(plan, **kw)


def test_every_position_acts_in_one_tick_signers_concurrently_most_urgent_first(repo):
    barrier = threading.Barrier(3)
    executors = [BarrierExecutor(barrier) for _ in range(3)]
    prices = {"a": 1500, "b": 1450, "c": 1400, "d": 1350, "e": 1300, "f": 1250}  # f is the most endangered
    snaps = {n: a1(weth_price_base=p * 10**8) for n, p in prices.items()}
    positions = [managed(n, executors[i % 3]) for i, n in enumerate(prices)]  # two positions per signer
    runtime, _ = make_runtime(repo, FakeReader([tick_of(100, **snaps)]), positions)
    report = runtime.tick()
    assert {n: o.status for n, o in report.positions.items()} == dict.fromkeys(prices, "submitted")
    for ex in executors:
        assert len(ex.plans) == 2 and all(p.block_number == 100 for p in ex.plans)
        # one signer's plans in urgency order: the lower health first (consecutive nonces, no waiting)
        first, second = (p.position for p in ex.plans)
        assert prices[first] < prices[second]
    assert len({t for ex in executors for t in ex.threads}) == 3  # one thread per signer, at once


def test_a_position_with_a_plan_in_flight_does_not_act_again(repo):
    ex = FakeExecutor(status="submitted")
    low = a1(weth_price_base=1500 * 10**8)
    runtime, _ = make_runtime(repo, FakeReader([tick_of(100, m=low), tick_of(101, m=low)]), [eager("m", ex)])
    plan_id = runtime.tick().positions["m"].plan_id
    # what the executor stores for a sent plan: the runtime sees it open until tracking settles it
    repo.create_plan(plan_id, position="m", block_number=100, steps=[], action="deleverage")
    repo.update_plan_status(plan_id, "simulated")
    repo.update_plan_status(plan_id, "submitted")
    second = runtime.tick()
    assert second.positions["m"].status == "in_flight" and second.positions["m"].plan_id == plan_id
    assert len(ex.plans) == 1


def test_a_refused_plan_is_not_sent_again_unchanged_and_no_plan_outlives_its_tick(repo):
    ex = FakeExecutor(status="refused", reason="simulation: step 2 (swap) would revert: Too little received")
    low = a1(weth_price_base=1500 * 10**8)
    lower = a1(weth_price_base=1490 * 10**8)
    reader = FakeReader([tick_of(100, m=low), tick_of(101, m=low), tick_of(102, m=lower)])
    runtime, _ = make_runtime(repo, reader, [managed("m", ex)])
    runtime.tick()
    same = runtime.tick()  # next block, the same state: the same plan would be refused again
    assert same.positions["m"].status == "refused" and "not sent again unchanged" in same.positions["m"].reason
    assert len(ex.plans) == 1
    moved = runtime.tick()  # the state changed: decided and sized again from the fresh reads
    assert len(ex.plans) == 2 and moved.positions["m"].status == "refused"
    assert [p.block_number for p in ex.plans] == [100, 102]  # each plan decided at the block it is sent in
    assert ex.plans[0].steps != ex.plans[1].steps
    # a plan may be mined at most ``max_plan_age_blocks`` past its block (the executor refuses it later)
    assert all(p.preconditions.max_block_age_blocks <= Runtime.max_plan_age_blocks for p in ex.plans)


def test_a_refusal_every_block_alerts_once_and_recovers_once(repo):
    ex = FakeExecutor(status="refused")
    runtime, channel = make_runtime(repo, FakeReader([tick_of(100 + i, m=a1(weth_price_base=(1500 - i) * 10**8))
                                                      for i in range(6)] + [tick_of(106, m=a1())]),
                                    [managed("m", ex)])
    for i in range(5):
        ex.reason = f"policy: per-tx cap ${2_000 + i:,} > $1,000"  # numbers change, the kind does not
        runtime.tick()
    assert len(ex.plans) == 5
    ex.status = "confirmed"
    runtime.tick()  # the action finally lands
    runtime.tick()  # back in band: nothing more to recover
    refused = [(a.kind, a.transition) for a in channel.alerts if a.kind == "action_refused"]
    assert refused == [("action_refused", "open"), ("action_refused", "resolve")]
    recovered = next(a for a in channel.alerts if a.kind == "action_refused" and a.transition == "resolve")
    assert "recovered" in recovered.title and "landed" in recovered.message
    assert [a.kind for a in channel.alerts].count("action_executed") == 1


def test_back_in_band_ends_a_refusal_episode(repo):
    ex = FakeExecutor(status="refused", reason="fees: max fee 5 wei is capped below the base fee 9 wei")
    runtime, channel = make_runtime(repo, FakeReader([tick_of(100, m=a1(weth_price_base=1500 * 10**8)),
                                                      tick_of(101, m=a1())]), [managed("m", ex)])
    runtime.tick()
    runtime.tick()  # price back: no action needed
    got = [(a.kind, a.transition) for a in channel.alerts if a.kind == "action_refused"]
    assert got == [("action_refused", "open"), ("action_refused", "resolve")]


# --- a dead webhook never slows a tick ------------------------------------------------------------
class HangingServer:
    """Accepts connections and never answers until released (a webhook that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.release = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.release.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.release.set()
        for c in self.conns:
            c.close()
        self.sock.close()


def _refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connection refused
    return port


@pytest.mark.parametrize("kind", ["hangs", "refuses"])
def test_a_dead_webhook_does_not_slow_a_tick(repo, kind):
    timeout_s = 3.0
    server = HangingServer() if kind == "hangs" else None
    port = server.port if server else _refused_port()
    webhook = WebhookChannel("ops", url=f"http://127.0.0.1:{port}/hook", timeout_s=timeout_s, retries=0)
    recorder = Recorder()
    rules = AlertRules(health=HealthAlertRules(min_persistence_ticks=1))
    engine = engine_from_repository(repo, rules, now_s=T0)
    dispatcher = AlertDispatcher([webhook, recorder], repo=repo)
    alerting = Alerting(engine, dispatcher, background=True)
    low = a1(weth_price_base=1500 * 10**8)
    runtime = Runtime(_cfg(), reader=FakeReader([tick_of(100, m=low), tick_of(101, m=low)]), repo=repo,
                      positions=[managed("m", FakeExecutor(status="confirmed"))], alerting=alerting, clock=lambda: T0)
    try:
        started = time.monotonic()
        report = runtime.tick()  # health warning + action executed: alerts for the dead webhook
        tick_s = time.monotonic() - started
        assert report.alerts >= 2
        # structural: the tick returned before the channel could even time out once
        assert tick_s < timeout_s and report.elapsed_s < timeout_s
        if server is not None:
            assert server.accepted.wait(5)  # the worker is stuck in the webhook right now...
            second = runtime.tick()  # ...and the next tick does not wait for it either
            assert second.elapsed_s < timeout_s
        assert alerting.flush(timeout_s * 4)
        # every alert reached the working channel; the dead one's are queued for a later retry
        kinds = [a.kind for a in recorder.alerts]
        assert "health_warning" in kinds and "action_executed" in kinds
        assert dispatcher.pending_retries() >= 1
        assert repo.get_open_alert("health:m").channels_delivered == ["rec"]
    finally:
        alerting.close(timeout_s * 2)
        if server is not None:
            server.close()


def test_a_plan_that_failed_for_time_not_content_is_decided_and_sent_again(repo):
    ex = FakeExecutor(status="failed", reason="plan is stale: decided at block 100, head is 103 (max age 2 blocks)")
    low = a1(weth_price_base=1500 * 10**8)
    runtime, _ = make_runtime(repo, FakeReader([tick_of(100, m=low), tick_of(101, m=low)]), [managed("m", ex)])
    runtime.tick()
    runtime.tick()
    assert [p.block_number for p in ex.plans] == [100, 101]  # re-decided at the new block and sent
