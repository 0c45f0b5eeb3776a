"""Repository behaviour on every backend: idempotency, life cycles, exact big integers, compaction."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manager.domain import UINT256_MAX, WAD, AccountData, SizingDecision, SizingStep
from manager.persistence import (
    InvalidTransitionError,
    NotFoundError,
    PlanConflictError,
    RecordError,
    derive_plan_id,
)
from manager.persistence.models import PlanStatus, TxStatus
from manager.protocols.aave_v3.types import LendingPositionSnapshot

RAW_TX = "0x02" + "ab" * 120  # shaped like a signed type-2 transaction (121 bytes)


def tx_hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def snap(repo, block: int, hf: float, position: str = "main", **extra):
    values = dict(
        position=position,
        protocol="aave_v3",
        account="0x00000000000000000000000000000000000000a1",
        block_number=block,
        block_timestamp=1_700_000_000 + 12 * block,
        health_factor_wad=int(hf * WAD),
        collateral_usd=10_000.0,
        debt_usd=5_000.0,
        ltv_bps=8000,
        liquidation_threshold_bps=8250,
    )
    values.update(extra)
    return repo.record_snapshot(**values)


def decision(position: str = "main", block: int = 100, amount: int = 10**18) -> SizingDecision:
    return SizingDecision(
        position=position,
        action="deleverage",
        steps=(SizingStep(kind="repay", asset="0xdebt", symbol="USDC", amount_wei=amount),),
        health_before=1.21,
        projected_health=1.45,
        target_health=1.45,
        binding_constraint="target_health",
        reason="below trigger 1.3",
        notional_usd=1234.5,
        block_number=block,
    )


# --- snapshots ---------------------------------------------------------------------------------------
def test_health_factor_of_uint256_max_round_trips_exactly(repo):
    snap(repo, 1, 0.0, health_factor_wad=UINT256_MAX, debt_usd=0.0)
    (row,) = repo.health_series("main")
    assert row.health_factor_wad == UINT256_MAX
    assert row.health_factor == pytest.approx(UINT256_MAX / WAD)


def test_snapshot_for_the_same_block_is_stored_once(repo):
    first = snap(repo, 5, 1.5)
    again = snap(repo, 5, 1.5)
    assert again.id == first.id
    assert len(repo.health_series("main")) == 1


def test_health_series_is_oldest_first_and_limited_to_the_latest(repo):
    for block in range(10):
        snap(repo, block, 1.0 + block / 10)
    snap(repo, 3, 2.0, position="other")
    series = repo.health_series("main", limit=4)
    assert [r.block_number for r in series] == [6, 7, 8, 9]
    assert [r.block_number for r in repo.health_series("main", since_block=8)] == [8, 9]
    assert repo.latest_snapshot("main").block_number == 9
    assert repo.latest_snapshot("nobody") is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ltv_bps", 10_001, r"ltv_bps=10001 must be an integer in \[0, 10000\]"),
        ("block_number", -1, "block_number=-1 must be an integer >= 0"),
        ("health_factor_wad", 1.5, "health_factor_wad=1.5 must be an integer >= 0"),
        ("collateral_usd", float("nan"), "collateral_usd=nan must be finite"),
        ("debt_usd", -3.0, "debt_usd=-3.0 must be >= 0"),
        ("position", "", "position='' must be a non-empty string"),
    ],
)
def test_bad_snapshot_values_are_named(repo, field, value, message):
    with pytest.raises(RecordError, match=message):
        snap(repo, 1, 1.5, **{field: value})


def test_lending_snapshot_uses_the_protocols_reported_values(repo):
    snapshot = LendingPositionSnapshot(
        name="eth-long",
        account="0x00000000000000000000000000000000000000b2",
        block_number=42,
        block_timestamp=1_700_000_500,
        reserves={},
        assets=(),
        oracle_fresh=False,
        reported=AccountData(
            total_collateral_base=2_000_000 * 10**8,
            total_debt_base=1_000_000 * 10**8,
            available_borrows_base=0,
            current_liquidation_threshold_bps=8250,
            ltv_bps=8000,
            health_factor_wad=1_650_000_000_000_000_000,
        ),
    )
    row = repo.record_lending_snapshot(snapshot)
    assert (row.position, row.collateral_usd, row.debt_usd) == ("eth-long", 2_000_000.0, 1_000_000.0)
    assert (row.health_factor_wad, row.ltv_bps, row.oracle_fresh) == (1_650_000_000_000_000_000, 8000, False)
    with pytest.raises(RecordError, match="no reported account data"):
        repo.record_lending_snapshot(snapshot.model_copy(update={"reported": None}))


# --- decisions and plans -----------------------------------------------------------------------------
def test_decision_is_stored_whole_and_once(repo):
    d = decision()
    row = repo.record_decision(d)
    assert SizingDecision.model_validate(row.decision_json) == d
    assert (row.action, row.binding_constraint, row.projected_health) == ("deleverage", "target_health", 1.45)
    assert repo.record_decision(d).id == row.id
    assert len(repo.decisions_for("main")) == 1
    with pytest.raises(RecordError, match="has no block_number"):
        repo.record_decision(d.model_copy(update={"block_number": None}))


def test_plan_id_is_deterministic_per_decision_and_block():
    assert derive_plan_id(decision(), 100) == derive_plan_id(decision(), 100)
    assert derive_plan_id(decision(), 100) != derive_plan_id(decision(), 101)
    assert derive_plan_id(decision(), 100) != derive_plan_id(decision(amount=2 * 10**18), 100)


def test_create_plan_is_idempotent(repo, clock):
    d = decision()
    drow = repo.record_decision(d)
    plan_id = derive_plan_id(d, 100)
    plan, created = repo.create_plan(
        plan_id, position="main", block_number=100, steps=d.steps, action=d.action, decision_id=drow.id
    )
    assert created and plan.status == "created"
    assert plan.steps_json[0]["amount_wei"] == 10**18
    repo.update_plan_status(plan_id, "simulated")
    clock.advance(60)
    again, created_again = repo.create_plan(plan_id, position="main", block_number=100, steps=d.steps)
    assert not created_again
    assert (again.id, again.status) == (plan.id, "simulated")  # the caller resumes, not restarts
    assert len(repo.actions_for("main")) == 1


def test_plan_id_reused_for_another_position_is_a_conflict(repo):
    repo.create_plan("plan-x", position="main", block_number=1, steps=[])
    with pytest.raises(PlanConflictError, match="plan-x is stored for position 'main'"):
        repo.create_plan("plan-x", position="other", block_number=1, steps=[])


def test_plan_life_cycle(repo):
    repo.create_plan("p1", position="main", block_number=1, steps=[])
    for status in ("simulated", "submitted", "submitted", "confirmed"):  # repeat is a no-op
        assert repo.update_plan_status("p1", status).status == status
    with pytest.raises(
        InvalidTransitionError, match="confirmed -> submitted is not allowed; from confirmed: none"
    ):
        repo.update_plan_status("p1", PlanStatus.SUBMITTED)
    assert repo.get_plan("p1").status == "confirmed"


def test_plan_cannot_be_submitted_without_simulation(repo):
    repo.create_plan("p1", position="main", block_number=1, steps=[])
    with pytest.raises(InvalidTransitionError, match="created -> submitted"):
        repo.update_plan_status("p1", "submitted")


def test_refusal_needs_a_reason_and_is_kept(repo):
    repo.create_plan("p1", position="main", block_number=1, steps=[])
    with pytest.raises(RecordError, match="needs a refusal_reason"):
        repo.update_plan_status("p1", "refused")
    plan = repo.update_plan_status("p1", "refused", refusal_reason="daily cap 5000 usd reached")
    assert plan.refusal_reason == "daily cap 5000 usd reached"
    assert repo.actions_for("main", include_refused=False) == []
    assert [p.status for p in repo.actions_for("main")] == ["refused"]


def test_unknown_status_and_plan_are_named(repo):
    repo.create_plan("p1", position="main", block_number=1, steps=[])
    with pytest.raises(RecordError, match="status='sent' is not valid; allowed: created, simulated"):
        repo.update_plan_status("p1", "sent")
    with pytest.raises(NotFoundError, match="plan_id nope is not stored"):
        repo.update_plan_status("nope", "simulated")


def test_open_plans_are_those_a_restart_must_resume(repo):
    for name, path in {"a": [], "b": ["simulated"], "c": ["simulated", "submitted"], "d": ["failed"]}.items():
        repo.create_plan(name, position="main", block_number=1, steps=[])
        for status in path:
            repo.update_plan_status(name, status)
    assert [p.plan_id for p in repo.open_plans()] == ["a", "b", "c"]


# --- transactions ------------------------------------------------------------------------------------
def _plan_with_txs(repo, n: int = 2):
    repo.create_plan("p1", position="main", block_number=1, steps=[{}] * n)
    return [
        repo.record_tx(
            plan_id="p1",
            step_index=i,
            nonce=10 + (n - 1 - i),  # recorded in reverse nonce order
            tx_hash=tx_hash(i + 1),
            raw_tx_hex=RAW_TX,
            max_fee_per_gas_wei=2**200,
            max_priority_fee_per_gas_wei=2 * 10**9,
            sender="0xsender",
        )
        for i in range(n)
    ]


def test_transactions_round_trip_and_pending_is_by_nonce(repo):
    txs = _plan_with_txs(repo)
    assert [t.nonce for t in repo.pending_transactions()] == [10, 11]
    assert repo.pending_transactions(sender="0xother") == []
    stored = repo.transactions_for("p1")[0]
    assert stored.max_fee_per_gas_wei == 2**200 and stored.raw_tx_hex == RAW_TX
    assert (
        repo.record_tx(plan_id="p1", step_index=0, nonce=11, tx_hash=tx_hash(1), raw_tx_hex=RAW_TX).id
        == txs[0].id
    )  # a repeat of the same hash is stored once
    assert len(repo.transactions_for("p1")) == 2


def test_tx_inclusion_replacement_and_reorg(repo):
    _plan_with_txs(repo)
    with pytest.raises(RecordError, match="status=included needs block_included"):
        repo.update_tx(tx_hash(1), status="included")
    included = repo.update_tx(tx_hash(1), status="included", block_included=500, gas_used=210_000)
    assert (included.status, included.block_included, included.gas_used) == ("included", 500, 210_000)
    reorged = repo.update_tx(tx_hash(1), status=TxStatus.PENDING)
    assert (reorged.status, reorged.block_included, reorged.gas_used) == ("pending", None, None)
    with pytest.raises(RecordError, match="needs replaced_by"):
        repo.update_tx(tx_hash(2), status="replaced")
    replaced = repo.update_tx(tx_hash(2), status="replaced", replaced_by=tx_hash(99))
    assert replaced.replaced_by == tx_hash(99)
    with pytest.raises(InvalidTransitionError, match="replaced -> pending is not allowed"):
        repo.update_tx(tx_hash(2), status="pending")
    assert [t.tx_hash for t in repo.pending_transactions()] == [tx_hash(1)]


def test_tx_needs_its_plan(repo):
    with pytest.raises(NotFoundError, match="create the plan first"):
        repo.record_tx(plan_id="ghost", step_index=0, nonce=0, tx_hash=tx_hash(1), raw_tx_hex=RAW_TX)


def test_a_private_key_shaped_raw_tx_is_refused_and_not_echoed(repo):
    repo.create_plan("p1", position="main", block_number=1, steps=[])
    key_like = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    with pytest.raises(RecordError, match="raw_tx_hex is 32 bytes") as info:
        repo.record_tx(plan_id="p1", step_index=0, nonce=0, tx_hash=tx_hash(1), raw_tx_hex=key_like)
    assert key_like[2:] not in str(info.value)
    assert repo.transactions_for("p1") == []


@pytest.mark.parametrize("bad", ["0x1234", "ab" * 33, "0x" + "zz" * 32])
def test_bad_tx_hash_is_named(repo, bad):
    with pytest.raises(RecordError, match="tx_hash="):
        repo.update_tx(bad, status="included", block_included=1)


# --- alerts ------------------------------------------------------------------------------------------
def test_alert_episode_upsert_send_resolve_reopen(repo, clock):
    row, created = repo.upsert_alert(
        "health:main", kind="health_warning", severity="warning", message="hf 1.25"
    )
    assert created and row.sent_count == 0 and row.first_seen_s == clock.now_s
    clock.advance(10)
    row, created = repo.upsert_alert(
        "health:main", kind="health_critical", severity="critical", message="hf 1.08", position="main"
    )
    assert not created and (row.kind, row.severity, row.first_seen_s) == (
        "health_critical",
        "critical",
        clock.now_s - 10,
    )
    repo.record_alert_sent("health:main", channels=["log", "slack"])
    sent = repo.record_alert_sent("health:main", channels=["log", "email"])
    assert (sent.sent_count, sent.channels_delivered, sent.last_sent_s) == (
        2,
        ["email", "log", "slack"],
        clock.now_s,
    )
    assert [a.episode_key for a in repo.open_alerts()] == ["health:main"]
    assert repo.resolve_alert("health:main").resolved_at_s == clock.now_s
    assert repo.open_alerts() == [] and repo.resolve_alert("health:main") is None
    _, reopened = repo.upsert_alert("health:main", kind="health_warning", severity="warning", message="again")
    assert reopened
    assert len(repo.alerts_for("main")) == 1  # the reopened episode has no position set
    with pytest.raises(NotFoundError, match="no open alert episode 'nope'"):
        repo.record_alert_sent("nope", channels=["log"])


# --- runtime state -----------------------------------------------------------------------------------
def test_runtime_state_and_daily_usage(repo):
    assert repo.last_processed_block() is None
    repo.set_last_processed_block(19_000_000)
    assert repo.last_processed_block() == 19_000_000
    day = dt.date(2024, 3, 1)
    assert repo.daily_usage(day) == 0.0
    assert repo.add_daily_usage(day, 1500.0) == 1500.0
    assert repo.add_daily_usage("2024-03-01", 250.5) == 1750.5
    assert repo.add_daily_usage(day, 1, counter="actions") == 1.0
    assert repo.daily_usage(dt.date(2024, 3, 2)) == 0.0
    assert repo.daily_usage(day) == 1750.5
    repo.set_state("custom", {"a": [1, 2]})
    assert repo.get_state("custom") == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("day", "amount", "message"),
    [
        (dt.date(2024, 1, 1), -1.0, "amount=-1.0 must be >= 0"),
        (dt.datetime(2024, 1, 1, 12), 1.0, "must be a date"),
        ("01/02/2024", 1.0, "must be an ISO date YYYY-MM-DD"),
    ],
)
def test_bad_daily_usage_inputs(repo, day, amount, message):
    with pytest.raises(RecordError, match=message):
        repo.add_daily_usage(day, amount)


def test_state_value_must_be_json(repo):
    with pytest.raises(TypeError):
        repo.set_state("k", object())


# --- compaction --------------------------------------------------------------------------------------
def hf_at(block: int) -> float:
    return 1.2 + ((block * 37) % 17) / 10  # deterministic, varied


def test_compaction_keeps_bucket_minimum_decisions_and_recent_history(repo):
    for block in range(100):
        snap(repo, block, hf_at(block))
    snap(repo, 10, 3.0, position="other")
    repo.record_decision(decision(block=37))
    repo.create_plan("p1", position="main", block_number=37, steps=[])
    deleted = repo.compact_snapshots(head_block=100, older_than_blocks=50, keep_every_n_blocks=10)
    kept = {r.block_number for r in repo.health_series("main", limit=1000)}
    expected_old = {min(range(b, b + 10), key=lambda k: (hf_at(k), k)) for b in range(0, 50, 10)} | {37}
    assert kept == expected_old | set(range(50, 100))
    assert deleted == 50 - len(expected_old)
    assert repo.compact_snapshots(head_block=100, older_than_blocks=50, keep_every_n_blocks=10) == 0
    assert len(repo.health_series("other")) == 1
    assert len(repo.decisions_for("main")) == 1 and repo.get_plan("p1") is not None


def test_compaction_rejects_zero_bucket(repo):
    with pytest.raises(RecordError, match="keep_every_n_blocks=0 must be an integer >= 1"):
        repo.compact_snapshots(head_block=10, older_than_blocks=1, keep_every_n_blocks=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hfs=st.lists(st.integers(min_value=100, max_value=400), min_size=1, max_size=40),
    bucket=st.integers(min_value=1, max_value=12),
)
def test_compaction_never_loses_the_worst_health(tmp_path_factory, hfs, bucket):
    from manager.persistence import Database, Repository

    repo = Repository(Database(f"sqlite:///{tmp_path_factory.mktemp('c') / 'p.sqlite'}"))
    for block, hf in enumerate(hfs):
        snap(repo, block, hf / 100)
    repo.compact_snapshots(head_block=len(hfs), older_than_blocks=0, keep_every_n_blocks=bucket)
    rows = repo.health_series("main", limit=1000)
    assert min(r.health_factor for r in rows) == min(hfs) / 100
    for start in range(0, len(hfs), bucket):  # every bucket keeps exactly one snapshot
        assert sum(start <= r.block_number < start + bucket for r in rows) == 1
