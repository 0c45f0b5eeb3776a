"""Gas of one protective action, atomic (PosmanExecutor, one transaction) vs the direct loop (withdraw -> approve
-> swap -> approve -> repay rounds from ``manager.execution.planner``), for the same position and target: carol
(20 WETH vs 42k USDC) pushed to HF 1.12, back to 1.5. The numbers go into manager/atomic/README.md
(run with ``-s`` to print the table)."""

from __future__ import annotations

import pytest

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.execution.planner import build_plan
from manager.protocols.aave_v3.deleverage import plan_deleverage
from manager.protocols.aave_v3.plan import PlanContext
from manager.protocols.aave_v3.reads import read_accounts, read_market
from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18
TARGET = 1.5


def _direct(net, carol, router_kind="swap_router"):
    client = ChainClient("devnet", ChainConfig(chain_id=31337, rpc_urls=[net.url], multicall=net.book["multicall"],
                                               multicall_kind="uniswap_interface")).connect()
    market = read_market(client, net.book["aave"]["pool_addresses_provider"], net.w3.eth.block_number)
    (snap,), errors = read_accounts(client, market, [carol], names=["carol"])
    assert not errors
    decision = plan_deleverage(snap, TARGET)
    assert decision.feasible, decision.reason
    router = net.book["uniswap"]["router02" if router_kind == "swap_router02" else "router"]
    ctx = PlanContext(pool=net.book["aave"]["pool"], router=router, account=carol, max_slippage_bps=100,
                      fees_pips={("WETH", "USDC"): 500}, router_kind=router_kind)
    plan = build_plan(decision, snap, ctx, min_post_health=1.02)
    gas, lowest = 0, H.hf_wad(net, carol)
    for step in plan.steps:
        r = H.send(net, step, carol)
        assert r["status"] == 1, step.label
        gas += r["gasUsed"]
        lowest = min(lowest, H.hf_wad(net, carol))
    return len(plan.steps), gas, lowest


def test_atomic_deleverage_gas_vs_direct_loop(chain):
    net = chain
    carol = net.address("carol")
    hf0 = H.hf_wad(net, carol) / WAD
    net.set_price("WETH", net.oracle_price("WETH") / 1e8 * 1.12 / hf0)
    start = H.hf_wad(net, carol)
    snap = net.snapshot()
    n_direct, gas_direct, lowest_direct = _direct(net, carol)
    hf_direct = H.hf_wad(net, carol)
    net.revert(snap)
    snap = net.snapshot()
    n_direct02, gas_direct02, _lowest02 = _direct(net, carol, "swap_router02")
    hf_direct02 = H.hf_wad(net, carol)
    net.revert(snap)

    rows = []
    for lender, kind in (("aave", "swap_router"), ("morpho", "swap_router"), ("aave", "swap_router02")):
        snap = net.snapshot()
        flash = H.aave_flash(net) if lender == "aave" else H.morpho_flash(net)
        s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, TARGET, flash)
        step = H.deleverage_aave(net, carol, "WETH", "USDC", 500, s, flash, min_hf=int(TARGET * 0.995 * WAD),
                                 max_hf=int(TARGET * 1.005 * WAD), router_kind=kind)
        r = H.send(net, step, carol)
        assert r["status"] == 1
        via = " (SwapRouter02 leg)" if kind == "swap_router02" else ""
        rows.append((f"atomic, {lender} flash loan{via}", 1, r["gasUsed"], H.hf_wad(net, carol)))
        net.revert(snap)
    rows.insert(0, ("direct loop (planner.py)", n_direct, gas_direct, hf_direct))
    rows.insert(1, ("direct loop via SwapRouter02 (multicall(deadline, [exactInput]))", n_direct02, gas_direct02,
                    hf_direct02))
    print(f"\nstart HF {start / WAD:.4f}, target {TARGET}; lowest HF during the direct loop {lowest_direct / WAD:.4f}")
    print("| path | transactions | gas | final HF |")
    for name, n, gas, hf in rows:
        print(f"| {name} | {n} | {gas:,} | {hf / WAD:.4f} |")
    assert abs(hf_direct02 / WAD / TARGET - 1) < 0.005
    for _name, _n, gas_atomic, hf_atomic in rows[2:]:
        assert gas_atomic < gas_direct
        assert abs(hf_atomic / WAD / TARGET - 1) < 0.005
    assert lowest_direct < start  # the direct loop withdraws first: health dips before the repay lands


def test_atomic_gas_per_action(chain):
    """Gas of each atomic action on the seeded positions (printed for the README's table)."""
    from manager.atomic import encode as E

    net = chain
    out = []
    for lender in ("morpho", "aave"):
        snap = net.snapshot()
        user = net.address("manager4")
        flash = H.morpho_flash(net) if lender == "morpho" else H.aave_flash(net)
        step, _o, _r = H.morpho_deleverage(net, user, "WETH/USDC", 2 * 10**18, flash, min_hf=WAD)
        r = H.send(net, step, user)
        assert r["status"] == 1
        out.append((f"Morpho deleverage, {lender} flash loan", r["gasUsed"]))
        net.revert(snap)
    alice = net.address("alice")
    t = net.book["tokens"]
    flash = H.aave_flash(net)
    p = H.path(net, "USDC", "WETH", 500)
    borrow = 5_000 * 10**6
    o = H.quote(net, p, borrow)
    step = E.boost_step(H.executor_of(net, "alice"), target=H.aave_target(net), debt_asset=t["USDC"],
                        collateral_asset=t["WETH"], borrow_wei=borrow,
                        legs=[E.SwapLeg(net.book["uniswap"]["router"], p, borrow, o * 995 // 1000)], flash=flash,
                        min_supply_wei=1, min_health_wad=WAD)
    snap = net.snapshot()
    r = H.send(net, step, alice)
    assert r["status"] == 1
    out.append(("Aave boost, aave flash loan", r["gasUsed"]))
    net.revert(snap)
    for name, gas in out:
        print(f"| {name} | 1 | {gas:,} |")
    assert all(0 < gas < 1_500_000 for _n, gas in out)
