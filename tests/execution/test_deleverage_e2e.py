"""End to end on the devnet (real Aave V3 + Uniswap V3): a position at HF ~1.12 is deleveraged to the
target 1.5 by withdraw -> swap -> repay, sized by ``plan_deleverage``, planned, policed, simulated,
fork-replayed (band +-0.5 %), signed and sent by the executor; it lands within +-0.5 % of the target."""

from __future__ import annotations

import pytest

from manager.chain.abi import load_abi
from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.execution.executor import Executor
from manager.execution.fees import FeePolicy
from manager.execution.planner import build_plan
from manager.execution.policy import PolicyLimits
from manager.execution.signer import Signer
from manager.execution.store import ExecutionStore
from manager.execution.types import Preconditions
from manager.protocols.aave_v3.deleverage import plan_deleverage
from manager.protocols.aave_v3.plan import PlanContext, allowed_calls
from manager.protocols.aave_v3.reads import read_accounts, read_market

pytestmark = [pytest.mark.chain, pytest.mark.slow]

TARGET = 1.5
KEY_ENV = "POSMAN_TEST_CAROL_KEY"


def _hf(w3, pool: str, user: str) -> float:
    data = w3.eth.contract(address=pool, abi=load_abi("aave_v3/Pool")).functions.getUserAccountData(user).call()
    return data[5] / 1e18


def test_hf_1_12_deleveraged_to_1_5_within_half_a_percent(chain, repo, monkeypatch):
    net = chain
    w3 = net.w3
    pool = net.book["aave"]["pool"]
    router = net.book["uniswap"]["router"]
    tokens = net.book["tokens"]
    carol, carol_key = net.accounts["carol"]

    # push carol (20 WETH vs 42k USDC, HF ~1.19) down to HF ~1.12 by moving the WETH price (pools follow)
    hf0 = _hf(w3, pool, carol)
    net.set_price("WETH", net.oracle_price("WETH") / 1e8 * 1.12 / hf0)
    hf_start = _hf(w3, pool, carol)
    assert 1.115 < hf_start < 1.125

    client = ChainClient("devnet", ChainConfig(chain_id=31337, rpc_urls=[net.url], multicall=net.book["multicall"],
                                               multicall_kind="uniswap_interface")).connect()
    block = w3.eth.block_number
    market = read_market(client, net.book["aave"]["pool_addresses_provider"], block)
    (snap,), errors = read_accounts(client, market, [carol], names=["carol"])
    assert not errors
    decision = plan_deleverage(snap, TARGET)
    assert decision.action == "deleverage" and decision.feasible, decision.reason

    ctx = PlanContext(pool=pool, router=router, account=carol, max_slippage_bps=100,
                      fees_pips={("WETH", "USDC"): 500})
    plan = build_plan(decision, snap, ctx, min_post_health=1.02)
    # the post-state band the fork replay must hit before anything real is sent: target +- 0.5 %
    plan = plan.model_copy(update={"preconditions": Preconditions(
        max_block_age_blocks=5, valid_until_block=block + 50, min_post_health=1.02,
        target_band=(TARGET * 0.995, TARGET * 1.005))})
    kinds = [s.kind for s in plan.steps]
    assert kinds[:5] == ["withdraw", "approve", "swap", "approve", "repay"] and len(kinds) % 5 == 0

    calls = allowed_calls(pool, router, [tokens["WETH"], tokens["USDC"]])
    limits = PolicyLimits(allowed_calls={a: frozenset(s) for a, s in calls.items()},
                          per_tx_usd=1_000_000, per_day_usd=5_000_000, max_slippage_bps=100)
    monkeypatch.setenv(KEY_ENV, carol_key)
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=carol)
    executor = Executor(w3, signer, ExecutionStore(repo), limits=limits, fee_policy=FeePolicy(),
                        fork_rpc_url=net.url)
    executor.submitter.poll_interval_s = 0.02

    result = executor.execute(plan, post_check=lambda w: _hf(w, pool, carol))
    assert result.status == "confirmed", result.reason
    assert all(s.status == "included" for s in result.steps) and len(result.steps) == len(plan.steps)
    hf_end = _hf(w3, pool, carol)
    assert abs(hf_end / TARGET - 1) <= 0.005, (hf_start, hf_end, decision.reason)
    assert result.post_health == pytest.approx(hf_end)
    assert repo.get_plan(plan.plan_id).status == "confirmed"
    assert len(repo.transactions_for(plan.plan_id)) == len(plan.steps)


def test_aave_revert_is_named_and_never_sent(chain, repo, monkeypatch):
    """Withdrawing all of carol's collateral would leave her under water: the executor names Aave's
    numeric code from the simulation and broadcasts nothing."""
    from manager.protocols.aave_v3 import encode as aave

    net = chain
    w3 = net.w3
    pool = net.book["aave"]["pool"]
    carol, carol_key = net.accounts["carol"]
    weth = net.book["tokens"]["WETH"]
    monkeypatch.setenv(KEY_ENV, carol_key)
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=carol)
    calls = allowed_calls(pool, net.book["uniswap"]["router"], [weth])
    executor = Executor(w3, signer, ExecutionStore(repo), fee_policy=FeePolicy(), fork_rpc_url=net.url,
                        limits=PolicyLimits(allowed_calls={a: frozenset(s) for a, s in calls.items()},
                                            per_tx_usd=1e9, per_day_usd=1e9, max_slippage_bps=100))
    from manager.execution.types import Plan

    nonce0 = w3.eth.get_transaction_count(carol, "pending")
    plan = Plan(plan_id="plan-withdraw-all", position="carol", account=carol, block_number=w3.eth.block_number,
                steps=(aave.withdraw(pool, weth, aave.MAX_AMOUNT, carol),))
    result = executor.execute(plan)
    assert result.status == "refused"
    # v3.6 reverts with a custom error raised inside a linked library (SupplyLogic/ValidationLogic), named from
    # the selector map of every v3.6 ABI (v3.0 would say "Aave error 35 HEALTH_FACTOR_LOWER_THAN_...")
    assert "Aave error HealthFactorLowerThanLiquidationThreshold()" in result.reason
    assert w3.eth.get_transaction_count(carol, "pending") == nonce0
    assert repo.transactions_for(plan.plan_id) == []
