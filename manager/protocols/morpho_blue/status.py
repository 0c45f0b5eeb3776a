"""Status row of a Morpho Blue position: the same stable fields as ``manager.status.status_row`` (Aave).

``name, protocol, account, block_number, collateral_usd, debt_usd, health_factor, ltv,
liquidation_threshold, available_borrows_usd, liquidation_prices, distance_to_liquidation_pct,
oracle_fresh`` plus Morpho extras. Values are at the snapshot's block with interest accrued to its
timestamp (``MorphoBalancesLib.expectedMarketBalances``), debt rounded up from shares (``_isHealthy``).

Morpho has one ratio: borrowing and liquidation both use the LLTV, so ``ltv`` and
``liquidation_threshold`` are both the LLTV (a fraction). USD values use the oracle's loan/USD feed
(``QUOTE_FEED_1``); when the oracle exposes no feed they are ``None`` and the ``*_loan`` extras (in
loan-token units) still hold. ``health_factor_wad`` is ``floor(maxBorrow * 1e18 / borrowed)``.
"""

from __future__ import annotations

from typing import Any

from manager.protocols.morpho_blue import math as mm
from manager.protocols.morpho_blue.types import MorphoPositionSnapshot

WAD = 10**18


def status_row(snap: MorphoPositionSnapshot) -> dict[str, Any]:
    m = snap.market_now
    p = snap.position
    borrowed = mm.borrowed_assets(m, p)
    max_borrow = mm.max_borrow(m, p)
    coll_loan = mm.quote_collateral(m, p.collateral_wei)
    liquidity = max(0, m.total_supply_assets - m.total_borrow_assets)
    avail = max(0, min(max_borrow - borrowed, liquidity))
    scale = 10**snap.loan_decimals
    loan_usd = snap.loan_price_usd
    hf = None if borrowed == 0 else mm.health_factor(m, p)
    lp_loan = mm.liquidation_price(m, p)

    def usd(amount_loan_wei: int) -> float | None:
        return None if loan_usd is None else amount_loan_wei / scale * loan_usd

    coll_usd = (p.collateral_wei / 10**snap.collateral_decimals * snap.collateral_price_usd
                if snap.collateral_price_usd is not None else None)
    lltv = snap.params.lltv_wad / WAD
    return {
        "name": snap.name,
        "protocol": snap.protocol,
        "account": snap.account,
        "block_number": snap.block_number,
        "collateral_usd": coll_usd,
        "debt_usd": usd(borrowed),
        "health_factor": hf,
        "ltv": lltv,
        "liquidation_threshold": lltv,
        "available_borrows_usd": usd(avail),
        "liquidation_prices": {snap.collateral_symbol or snap.params.collateral_token:
                               None if lp_loan is None else (lp_loan * loan_usd if loan_usd is not None else None)},
        "distance_to_liquidation_pct": None if hf is None else max(0.0, (1 - 1 / hf) * 100) if hf > 0 else 0.0,
        "oracle_fresh": snap.oracle_fresh,
        # extras
        "health_factor_wad": None if borrowed == 0 else str(max_borrow * WAD // borrowed),
        "healthy": mm.is_healthy(m, p),
        "market_id": snap.market_id,
        "market": f"{snap.collateral_symbol}/{snap.loan_symbol}",
        "lltv_wad": str(snap.params.lltv_wad),
        "collateral_wei": p.collateral_wei,
        "borrow_shares": p.borrow_shares,
        "borrowed_wei": borrowed,
        "max_borrow_wei": max_borrow,
        "collateral_value_loan_wei": coll_loan,
        "available_borrows_loan_wei": avail,
        "liquidation_price_loan": lp_loan,
        "oracle_price": str(m.oracle_price),
        "borrow_apr": snap.borrow_rate_per_s_wad * 365 * 86_400 / WAD,
        "current_ltv": (borrowed / coll_loan) if coll_loan else None,
        "oracle_issues": list(snap.oracle_issues),
    }
