"""The one deleverage/boost solver (``manager.sizing.solver``) over BOTH loan models (Aave V3, Morpho Blue).

Hypothesis invariants (direct and atomic forms), each decision replayed step by step with the model's exact bookkeeping
(``LoanModel.after``: Aave's integer rules of the pool revision, Morpho's shares math):
- a deleverage never raises debt and never lowers health (at any step), and reaches the target when feasible;
- a boost never lowers health below its target (nor below the safety floor at any step), never lowers debt,
  and lands within the tolerance above the target when feasible; every borrow passes the protocol's gate;
- the decision's projected health is the replayed exact health.
The Morpho model is also checked against ``protocols.morpho_blue.math``'s own functions (borrow / repay / withdraw).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from manager.protocols.aave_v3.loan import AaveLoanModel
from manager.protocols.morpho_blue import math as mm
from manager.protocols.morpho_blue.loan import MorphoLoanModel
from manager.protocols.morpho_blue.types import FeedReading, MarketParams, MorphoPositionSnapshot
from manager.sizing import solver
from manager.sizing.caps import SizingLimits
from manager.sizing.loan import LoanModel
from tests.sizing.builders import USDC, WETH, cpmm_curve, reserve, snapshot

LOAN, COLL = "0x" + "11" * 20, "0x" + "22" * 20
LLTV = 86 * 10**16
TS = 1_700_000_000


def morpho_snapshot(coll_weth: float, debt_usdc: float, price: float) -> MorphoPositionSnapshot:
    tba, tbs = 4 * 10**12, 4 * 10**12 * 10**6 * 101 // 100
    oracle = int(price * 10**8) * 10 ** (36 + 6 - 18 - 8)
    shares = mm.to_shares_up(int(debt_usdc * 1e6), tba, tbs)
    market = mm.MorphoMarket(loan_decimals=6, collateral_decimals=18, lltv_wad=LLTV, total_supply_assets=10**13,
                             total_supply_shares=10**19, total_borrow_assets=tba + int(debt_usdc * 1e6),
                             total_borrow_shares=tbs + shares, oracle_price=oracle)

    def feed(answer: float) -> FeedReading:
        return FeedReading(feed="0x" + "33" * 20, answer=int(answer * 1e8), decimals=8, round_id=1, updated_at=TS,
                           age_s=0, stale=False)

    return MorphoPositionSnapshot(
        name="m", morpho="0x" + "44" * 20, account="0x" + "55" * 20, block_number=100, block_timestamp=TS,
        market_id="0x" + "66" * 32, params=MarketParams(loan_token=LOAN, collateral_token=COLL, oracle="0x" + "77" * 20,
                                                         irm="0x" + "88" * 20, lltv_wad=LLTV),
        loan_symbol="USDC", collateral_symbol="WETH", loan_decimals=6, collateral_decimals=18, market=market,
        last_update=TS, position=mm.MorphoPosition(borrow_shares=shares, collateral_wei=int(coll_weth * 1e18)),
        collateral_feed=feed(price), loan_feed=feed(1.0))


def model_of(kind: str, weth: int, price: int, debt_frac: float) -> tuple[LoanModel, dict]:
    """A WETH/USDC loan of ``weth`` WETH at ``price`` with debt ``debt_frac`` of its liquidation limit, and its
    WETH<->USDC depth curves (keyed by address)."""
    if kind == "aave":
        lt = 0.825
        debt = int(weth * price * lt * debt_frac)
        snap = snapshot([reserve("WETH", price * 10**8), reserve("USDC", 10**8)],
                        {"WETH": (weth * 10**18, 0), "USDC": (0, max(1, debt) * 10**6)})
        model: LoanModel = snap.loan_model()
        coll, loan = WETH, USDC
    else:
        debt = int(weth * price * LLTV / 1e18 * debt_frac)
        model = morpho_snapshot(float(weth), float(max(1, debt)), float(price)).loan_model()
        coll, loan = COLL, LOAN
    depth = {(coll, loan): cpmm_curve(coll, loan, 5000e18, 5000 * price * 1e6),
             (loan, coll): cpmm_curve(loan, coll, 5000 * price * 1e6, 5000e18, dec_in=6, dec_out=18)}
    return model, depth


def replay(model: LoanModel, d, *, floor_hf: float | None) -> tuple[LoanModel, list[tuple[str, float]]]:
    """Apply the steps in order with the model's exact bookkeeping; swaps deliver their guaranteed minimum only.
    Returns the end state and (step kind, health after it) of every step that changes the position."""
    wallet: dict[str, int] = {}
    healths: list[tuple[str, float]] = []
    for s in d.steps:
        assert s.amount_wei > 0
        a = s.asset.lower()
        if s.kind == "flash_loan":
            wallet[a] = wallet.get(a, 0) + s.amount_wei
        elif s.kind == "withdraw":
            model = model.after({s.asset: -s.amount_wei})
            wallet[a] = wallet.get(a, 0) + s.amount_wei
        elif s.kind == "swap":
            assert wallet.get(a, 0) >= s.amount_wei and (s.min_amount_out_wei or 0) > 0
            wallet[a] -= s.amount_wei
            out = (s.asset_out or "").lower()
            wallet[out] = wallet.get(out, 0) + (s.min_amount_out_wei or 0)
        elif s.kind == "repay":
            assert wallet.get(a, 0) >= s.amount_wei
            wallet[a] -= s.amount_wei
            model = model.after(None, {s.asset: -s.amount_wei})
        elif s.kind == "supply":
            assert wallet.get(a, 0) >= s.amount_wei
            wallet[a] -= s.amount_wei
            model = model.after({s.asset: s.amount_wei})
        elif s.kind == "borrow":
            assert model.borrow_ok(s.asset, s.amount_wei)  # the protocol's own gate at that point
            model = model.after(None, {s.asset: s.amount_wei})
            wallet[a] = wallet.get(a, 0) + s.amount_wei
        else:
            raise AssertionError(s.kind)
        if s.kind in ("withdraw", "repay", "supply", "borrow"):
            healths.append((s.kind, model.health()))
            if floor_hf is not None and s.kind in ("withdraw", "borrow"):
                assert healths[-1][1] >= floor_hf, (s, healths)
    if any(s.kind == "flash_loan" for s in d.steps):
        f = next(s for s in d.steps if s.kind == "flash_loan")
        assert wallet.get(f.asset.lower(), 0) >= 0  # the flash loan is covered (premium included in the min-outs)
    assert all(v >= 0 for v in wallet.values()), wallet
    return model, healths


KINDS = st.sampled_from(["aave", "morpho"])


@settings(max_examples=60, deadline=None)
@given(kind=KINDS, weth=st.integers(1, 300), price=st.integers(800, 5000), debt_frac=st.floats(0.8, 0.97),
       target=st.floats(1.1, 2.0), atomic=st.booleans(), depth=st.booleans())
def test_deleverage_invariants_over_both_models(kind, weth, price, debt_frac, target, atomic, depth):
    model, curves = model_of(kind, weth, price, debt_frac)
    before = model.health()
    assume(math.isfinite(before) and before < target)
    lim = SizingLimits(safety_floor_hf=1.0, min_action_usd=0, max_rounds=30, max_slippage_bps=100)
    if atomic:
        d = solver.atomic_deleverage(model, target, premium_bps=5 if kind == "aave" else 0,
                                     depth=curves if depth else None, limits=lim)
    else:
        d = solver.deleverage(model, target, depth=curves if depth else None, limits=lim)
    event(f"{kind} {'atomic' if atomic else 'direct'} {d.action} feasible={d.feasible}")
    assert all(v <= 0 for v in d.debt_deltas_wei.values())  # debt never rises
    assert all(v <= 0 for v in d.collateral_deltas_wei.values())
    if not d.steps:
        return
    after, healths = replay(model, d, floor_hf=None if atomic else 1.0)
    # health never falls below where it started: at every step of the atomic form (repay first), after every round
    # (withdraw -> swap -> repay, the withdraw kept above the floor) of the direct one
    assert all(h >= before * (1 - 1e-12) for k, h in healths if atomic or k == "repay"), healths
    assert sum(a.debt_wei for a in after.assets()) <= sum(a.debt_wei for a in model.assets())
    h = after.health()
    assert h == pytest.approx(d.projected_health, rel=1e-9) or (math.isinf(h) and d.projected_health in (None, h))
    if d.feasible:
        assert h >= target - lim.tolerance_hf  # target reached when feasible
    else:
        assert d.binding_constraint not in ("none", "target", "target_health")


@settings(max_examples=60, deadline=None)
@given(kind=KINDS, weth=st.integers(1, 300), price=st.integers(800, 5000), debt_frac=st.floats(0.05, 0.6),
       target=st.floats(1.1, 2.0), atomic=st.booleans(), depth=st.booleans())
def test_boost_invariants_over_both_models(kind, weth, price, debt_frac, target, atomic, depth):
    model, curves = model_of(kind, weth, price, debt_frac)
    before = model.health()
    assume(math.isfinite(before) and before > target + 0.01)
    lim = SizingLimits(safety_floor_hf=1.05, min_action_usd=0, max_rounds=12, max_slippage_bps=100)
    if atomic:
        d = solver.atomic_boost(model, target, premium_bps=5 if kind == "aave" else 0,
                                depth=curves if depth else None, limits=lim)
    else:
        d = solver.boost(model, target, depth=curves if depth else None, limits=lim)
    event(f"{kind} {'atomic' if atomic else 'direct'} {d.action} feasible={d.feasible}")
    assert all(v >= 0 for v in d.debt_deltas_wei.values())
    assert all(v >= 0 for v in d.collateral_deltas_wei.values())
    if not d.steps:
        assert d.action == "none"
        return
    after, healths = replay(model, d, floor_hf=None if atomic else lim.safety_floor_hf)
    if atomic:  # supply first, then the borrow: no step of the one transaction is below the target
        assert all(hh >= target for _k, hh in healths), healths
    h = after.health()
    assert h == pytest.approx(d.projected_health, rel=1e-9)
    assert h >= target  # a boost never goes below its target
    assert h < before
    if d.feasible:
        assert h <= target + lim.tolerance_hf


def test_morpho_model_matches_the_shares_math():
    """``MorphoLoanModel.after`` books a borrow, a repay and a withdrawal as ``Morpho.sol`` does."""
    snap = morpho_snapshot(10.0, 20_000.0, 3_000.0)
    model = snap.loan_model()
    assert isinstance(model, MorphoLoanModel)
    m, p = snap.market_now, snap.position
    assert model.health() == mm.health_factor(m, p)
    assert model.health_wad() == mm.mul_div_down(mm.max_borrow(m, p), 10**18, mm.borrowed_assets(m, p))
    # borrow 1,000 USDC: toSharesUp shares, both totals grow
    shares = mm.to_shares_up(1_000 * 10**6, m.total_borrow_assets, m.total_borrow_shares)
    b = model.after(None, {"USDC": 1_000 * 10**6})
    assert b.position.borrow_shares == p.borrow_shares + shares
    assert b.market.total_borrow_assets == m.total_borrow_assets + 1_000 * 10**6
    # repay 500 USDC: toSharesDown burned
    m2, p2 = mm.apply_repay_assets(m, p, 500 * 10**6)
    assert model.after(None, {LOAN: -500 * 10**6}).health() == mm.health_factor(m2, p2)
    # withdraw 1 WETH
    assert model.after({"WETH": -10**18}).health() == mm.health_factor(m, mm.apply_withdraw_collateral(p, 10**18))
    # the whole debt goes by shares
    assert math.isinf(model.after(None, {LOAN: -mm.borrowed_assets(m, p)}).health())
    # the borrow gate: Morpho._isHealthy after the borrow
    limit = mm.max_borrow(m, p) - mm.borrowed_assets(m, p)
    assert model.borrow_ok(LOAN, limit - 10) and not model.borrow_ok(LOAN, limit + 10)


def test_aave_model_is_the_exact_position():
    snap = snapshot([reserve("WETH", 2000 * 10**8), reserve("USDC", 10**8)],
                    {"WETH": (10 * 10**18, 0), "USDC": (0, 10_000 * 10**6)})
    model = snap.loan_model()
    assert isinstance(model, AaveLoanModel)
    from manager.protocols.aave_v3.math import exact_position

    pos = exact_position(snap)
    assert model.health_wad() == pos.health_factor_wad()
    assert model.after({"WETH": -10**18}, {"USDC": -10**9}).health_wad() == pos.with_deltas(
        {WETH: (-10**18, 0), USDC: (0, -10**9)}).health_factor_wad()
    assert model.largest("collateral") == "WETH" and model.largest("debt") == "USDC"


def test_a_boost_without_a_usd_price_is_refused_when_usd_caps_are_set():
    snap = morpho_snapshot(10.0, 10_000.0, 3_000.0).model_copy(update={"loan_feed": None, "collateral_feed": None})
    capped = solver.boost(snap.loan_model(), 1.5, limits=SizingLimits(per_action_usd=1_000.0))
    assert capped.action == "none" and capped.binding_constraint == "no_usd_price", capped.reason
    free = solver.boost(snap.loan_model(), 1.5, limits=SizingLimits(min_action_usd=0))
    assert free.action == "boost" and free.feasible, free.reason


def test_atomic_deleverage_moves_to_the_next_collateral_when_a_pool_has_no_depth_left():
    """Aave, two collaterals: wstETH (lower LT) is sold first; once this block's sales used its pool's depth, the
    next decision of the block sells WETH (one pair per transaction, the pair chosen by the loan model)."""
    from manager.sizing.venues import DepthLedger
    from tests.sizing.builders import WSTETH

    s = snapshot([reserve("WETH", 1300 * 10**8), reserve("wstETH", 1400 * 10**8), reserve("USDC", 10**8)],
                 {"WETH": (10 * 10**18, 0), "wstETH": (10 * 10**18, 0), "USDC": (0, 20_000 * 10**6)})
    lim = SizingLimits(max_slippage_bps=100, min_action_usd=0)
    depth = {(WSTETH, USDC): cpmm_curve(WSTETH, USDC, 300e18, 420_000e6, fee_pips=500),
             (WETH, USDC): cpmm_curve(WETH, USDC, 5000e18, 6_500_000e6, fee_pips=500)}
    first = solver.atomic_deleverage(s, 1.5, premium_bps=5, depth=depth, limits=lim)
    assert first.partial and next(st.symbol for st in first.steps if st.kind == "withdraw") == "wstETH"
    ledger = DepthLedger()
    ledger.record(first.steps, depth)
    second = solver.atomic_deleverage(s, 1.5, premium_bps=5, depth=ledger.shifted(depth), limits=lim)
    assert second.feasible and next(st.symbol for st in second.steps if st.kind == "withdraw") == "WETH"
    after, _h = replay(s.loan_model(), second, floor_hf=None)
    assert after.health() == pytest.approx(second.projected_health, rel=1e-12) and after.health() >= 1.5
