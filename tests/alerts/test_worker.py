"""The background alert worker: submitting never blocks; a slow channel backs off instead of costing a
timeout per alert; a full queue and a shutdown with alerts still queued record them, so the next start
sends them (nothing recorded is lost)."""

from __future__ import annotations

import threading

from manager.alerts import AlertDispatcher, AlertEngine, AlertRules, HealthAlertRules
from manager.alerts.channels import Channel
from manager.alerts.worker import AlertWorker
from manager.persistence import Database, Repository

T0 = 1_700_000_000.0
RULES = AlertRules(health=HealthAlertRules(min_persistence_ticks=1))


class Blocking(Channel):
    """Blocks in ``send`` until released (a hanging webhook), then records."""

    def __init__(self, name: str = "slow") -> None:
        super().__init__(name)
        self.release = threading.Event()
        self.entered = threading.Event()
        self.sent: list = []

    def send(self, alert) -> None:
        self.entered.set()
        if not self.release.wait(10):
            raise TimeoutError("never released")
        self.sent.append(alert)


class Recorder(Channel):
    def __init__(self, name: str = "rec") -> None:
        super().__init__(name)
        self.sent: list = []

    def send(self, alert) -> None:
        self.sent.append(alert)


def _repo(tmp_path) -> Repository:
    return Repository(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"), clock=lambda: T0)


def _alerts(engine: AlertEngine, n: int, start: int = 0) -> list:
    out = []
    for i in range(start, start + n):
        out += engine.evaluate_health(f"p{i}", 1.1, block_number=100 + i, now_s=T0 + i)
    return out


def test_submit_never_blocks_and_close_records_what_was_not_delivered(tmp_path):
    repo = _repo(tmp_path)
    slow = Blocking()
    worker = AlertWorker(AlertDispatcher([slow], repo=repo))
    engine = AlertEngine(RULES, started_at_s=T0)
    assert worker.submit(_alerts(engine, 1))  # the worker takes it and hangs in the channel
    assert slow.entered.wait(5)
    for i in range(1, 4):  # the tick keeps going: each submit returns at once
        assert worker.submit(_alerts(engine, 1, start=i))
    assert worker.pending() == 4
    assert not worker.flush(0.2)
    closer = threading.Thread(target=worker.close, kwargs={"timeout_s": 0.5})
    closer.start()
    closer.join(5)
    # the three alerts never handed to a channel are recorded open, nothing sent: recover() sends them
    unsent = {row.position for row in repo.open_alerts() if row.sent_count == 0}
    assert {"p1", "p2", "p3"} <= unsent
    slow.release.set()
    rec = Recorder()
    restarted = AlertDispatcher([rec], repo=repo)
    restarted.recover()
    assert {"p1", "p2", "p3"} <= {a.position for a in rec.sent}


def test_a_full_queue_records_instead_of_dropping(tmp_path):
    repo = _repo(tmp_path)
    slow = Blocking()
    worker = AlertWorker(AlertDispatcher([slow], repo=repo), max_queue=1)
    engine = AlertEngine(RULES, started_at_s=T0)
    worker.submit(_alerts(engine, 1))
    assert slow.entered.wait(5)
    assert worker.submit(_alerts(engine, 1, start=1))  # fills the queue
    assert not worker.submit(_alerts(engine, 1, start=2))  # full: recorded for recovery
    assert worker.overflowed == 1
    assert "p2" in {row.position for row in repo.open_alerts() if row.sent_count == 0}
    slow.release.set()
    assert worker.flush(5)
    worker.close(1)


def test_a_slowly_failing_channel_backs_off_and_the_others_are_not_held_up(tmp_path):
    clock = [0.0]

    class Hanging(Channel):
        def __init__(self) -> None:
            super().__init__("dead")
            self.calls = 0

        def send(self, alert) -> None:
            self.calls += 1
            clock[0] += 5.0  # the channel's timeout passes
            raise TimeoutError("timed out")

    dead, rec = Hanging(), Recorder()
    dispatcher = AlertDispatcher([dead, rec], repo=_repo(tmp_path), monotonic=lambda: clock[0])
    engine = AlertEngine(RULES, started_at_s=T0)
    dispatcher.dispatch(_alerts(engine, 10))
    assert dead.calls == 1 and len(rec.sent) == 10  # one timeout, not ten
    assert dispatcher.down_channels() == ["dead"] and dispatcher.pending_retries() == 10
    dispatcher.retry_undelivered()
    assert dead.calls == 1  # still backing off: retries wait without using their attempts
    clock[0] += 31.0
    dispatcher.retry_undelivered()
    assert dead.calls == 2  # tried again after the back-off (and backs off longer now)
