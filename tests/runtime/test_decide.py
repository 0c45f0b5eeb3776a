"""``Runtime.decide`` is the tick's decision stage: it plans what the tick then sends, and sends nothing itself;
the preview's repository reads through and never writes; its executor stand-in refuses to send."""

from __future__ import annotations

import pytest

from manager.persistence import Database, Repository
from manager.runtime.preview import NoSend, PreviewRepository, PreviewSendError
from tests.sizing.builders import a1

from .fakes import FakeExecutor, FakeReader
from .test_loop import make_runtime, managed, tick_of


@pytest.fixture
def repo(tmp_path):
    return Repository(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"), clock=lambda: 1_700_000_000.0)


def test_decide_plans_without_sending_and_the_tick_sends_that_plan(repo):
    ex = FakeExecutor()
    low = a1(weth_price_base=1500 * 10**8)
    tick = tick_of(100, m=low)
    runtime, _ = make_runtime(repo, FakeReader([tick]), [managed("m", ex)])
    decided = runtime.decide(tick, 1_700_000_000.0)
    assert ex.plans == []  # nothing sent by the decision stage
    ((item, plan),) = decided.planned
    outcome = decided.report.positions["m"]
    assert (item.pos.name, outcome.action, outcome.status, outcome.plan_id) == ("m", "deleverage", "planned",
                                                                                plan.plan_id)
    report = runtime.tick()  # the same block: the tick decides the same and sends that plan
    assert [p.plan_id for p in ex.plans] == [plan.plan_id]
    assert report.positions["m"].action == "deleverage"


def test_preview_repository_reads_through_drops_records_and_refuses_other_writes(repo):
    repo.set_state("last_action:m", {"block": 1})
    ro = PreviewRepository(repo)
    assert ro.get_state("last_action:m") == {"block": 1}
    ro.set_state("last_action:m", {"block": 2})  # dropped
    assert repo.get_state("last_action:m") == {"block": 1}
    with pytest.raises(AttributeError, match="does not write"):
        ro.pause_position("m")
    with pytest.raises(PreviewSendError, match="never sends"):
        NoSend().execute(object())


def test_every_read_of_the_decision_stage_exists_on_the_repository_and_before_the_first_run():
    from manager.runtime.preview import _READS, EmptyRepository

    for name in _READS:
        assert callable(getattr(Repository, name)), name
        assert callable(getattr(EmptyRepository, name)), name
    empty = PreviewRepository(EmptyRepository())
    assert (empty.is_paused("m"), empty.open_plans(), empty.get_state("k", 3), empty.daily_usage("2026-01-01")) == (
        False, [], 3, 0.0)
