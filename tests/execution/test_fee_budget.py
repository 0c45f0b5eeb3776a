"""The fee budget is applied: the loss a plan avoids (``fees.expected_loss_avoided_usd``), the loop handing
the native price and that loss to ``Executor.execute``, and the executor refusing a plan whose worst-case
gas exceeds its budget (real anvil)."""

from __future__ import annotations

import pytest

from manager.execution.fees import FeePolicy, expected_loss_avoided_usd, lending_debt_and_bonus
from manager.execution.signer import Signer
from tests.runtime.fakes import FakeExecutor, FakeReader
from tests.runtime.test_loop import make_runtime, managed, tick_of
from tests.sizing.builders import a1

from .conftest import KEY_ENV
from .helpers import RECIPIENT, make_executor, transfer_plan


def test_loss_avoided_grows_as_health_approaches_one():
    kw = dict(action="deleverage", debt_usd=10_000.0, liquidation_bonus_bps=10_500)
    far, near, at = (expected_loss_avoided_usd(health_before=h, **kw) for h in (2.0, 1.3, 1.05))
    assert far == pytest.approx(10_000 * 0.5 * 0.05 * 0.1)  # 0.1 at health 2.0
    assert far < near < at == pytest.approx(10_000 * 0.5 * 0.05)  # certain at/below 1 + 0.10
    assert expected_loss_avoided_usd(health_before=0.9, **kw) == pytest.approx(10_000 * 1.0 * 0.05)  # full close
    assert expected_loss_avoided_usd(health_before=1.2, action="deleverage", debt_usd=10_000.0,
                                     liquidation_bonus_bps=500) == pytest.approx(10_000 * 0.5 * 0.05 * 0.5)


def test_no_budget_for_a_boost_or_without_debt_or_health():
    kw = dict(debt_usd=10_000.0, liquidation_bonus_bps=10_500)
    assert expected_loss_avoided_usd(action="boost", health_before=2.5, **kw) is None
    assert expected_loss_avoided_usd(action="deleverage", health_before=None, **kw) is None
    assert expected_loss_avoided_usd(action="deleverage", health_before=1.2, debt_usd=0.0,
                                     liquidation_bonus_bps=10_500) is None


def test_lending_debt_and_bonus_of_an_aave_snapshot():
    snap = a1(weth_price_base=1500 * 10**8)
    debt_usd, bonus = lending_debt_and_bonus(snap)
    expected_debt = sum((a.variable_debt_wei + a.stable_debt_wei) * snap.reserves[a.asset].price_base
                        / 10**snap.reserves[a.asset].decimals / snap.base_unit for a in snap.assets)
    assert debt_usd == pytest.approx(expected_debt) and debt_usd > 0
    assert bonus > 10_000
    assert lending_debt_and_bonus(object()) is None


class RecordingExecutor(FakeExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.kwargs: list[dict] = []

    def execute(self, plan, **kw):
        self.kwargs.append(kw)
        return super().execute(plan, **kw)


def test_loop_passes_native_price_and_loss_avoided_to_the_executor(tmp_path):
    from manager.persistence import Database, Repository

    repo = Repository(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"), clock=lambda: 1_700_000_000.0)
    ex = RecordingExecutor()
    low = a1(weth_price_base=1500 * 10**8)
    runtime, _ = make_runtime(repo, FakeReader([tick_of(100, m=low)]), [managed("m", ex)])
    assert runtime.tick().ok
    (plan,), (kw,) = ex.plans, ex.kwargs
    assert kw["native_price_usd"] == pytest.approx(1500.0)  # the tick's WETH oracle reading
    debt_usd, bonus = lending_debt_and_bonus(low)
    assert plan.expected_loss_avoided_usd == pytest.approx(expected_loss_avoided_usd(
        action="deleverage", health_before=plan.health_before, debt_usd=debt_usd, liquidation_bonus_bps=bonus))
    assert plan.expected_loss_avoided_usd > 0


@pytest.mark.chain
def test_plan_whose_gas_exceeds_the_budget_is_refused(w3, anvil, token, account, repo, monkeypatch):
    monkeypatch.setenv(KEY_ENV, account.key.hex())
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=account.address)
    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url,
                             fee_policy=FeePolicy(budget_fraction=0.25))
    nonce0 = w3.eth.get_transaction_count(account.address)
    before = token.functions.balanceOf(RECIPIENT).call()
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, 10**18,
                         expected_loss_avoided_usd=0.01, health_before=1.4)
    result = executor.execute(plan, native_price_usd=3000.0)
    assert result.status == "refused"
    assert result.reason.startswith("fee budget: worst-case gas $") and "of the expected loss avoided $0.01" in result.reason
    assert repo.get_plan(plan.plan_id).refusal_reason == result.reason
    assert w3.eth.get_transaction_count(account.address, "pending") == nonce0
    assert token.functions.balanceOf(RECIPIENT).call() == before

    # the same plan with a loss avoided that covers its gas goes through
    ok = transfer_plan(account.address, token.address, w3.eth.block_number, 10**18,
                       expected_loss_avoided_usd=1_000.0, health_before=1.4)
    assert executor.execute(ok, native_price_usd=3000.0).status == "confirmed"


def test_loss_avoided_follows_the_exact_liquidation_rules():
    """Aave: the loss weighed is the worst single liquidationCall of the pool version (protocols.aave_v3.liquidation)."""
    from manager.execution.fees import lending_liquidation_loss_usd
    from manager.protocols.aave_v3.liquidation import worst_liquidation
    from tests.sizing.test_liquidation import v36

    for snap in (a1(weth_price_base=1500 * 10**8), v36(a1(weth_price_base=1500 * 10**8))):
        loss = lending_liquidation_loss_usd(snap)
        w = worst_liquidation(snap)
        assert loss == w.loss_base / snap.base_unit and loss > 0
        # HF 1.2375: 50% of the $10,000 debt at a 5% bonus -> about $250 taken beyond the debt repaid
        assert loss == pytest.approx(10_000 * 0.5 * 0.05, rel=1e-3)
        got = expected_loss_avoided_usd(action="deleverage", health_before=1.2375, debt_usd=10_000.0,
                                        liquidation_bonus_bps=10_500, liquidation_loss_usd=loss)
        assert got == pytest.approx(loss * 0.10 / 0.2375)
    # below the $2,000 thresholds v3.6 closes 100% where the old estimate assumed 50%
    small = v36(a1(weth_price_base=150 * 10**8, debt_usdc=1_000))
    assert worst_liquidation(small).close_factor_bps == 10_000
    assert lending_liquidation_loss_usd(small) == pytest.approx(1_000 * 0.05, rel=1e-3)
    assert lending_liquidation_loss_usd(object()) is None
