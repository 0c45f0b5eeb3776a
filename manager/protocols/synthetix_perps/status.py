"""Status row of a Synthetix PerpsV2 position (``posman status``; the stable fields are documented in
``manager.status``: perp meanings of the same keys), from the exact margin math of ``manager.protocols.synthetix_perps.math``.
"""

from __future__ import annotations

from typing import Any


def perp_status_row(snap: Any, oracle_issues: tuple[str, ...] = ()) -> dict[str, Any]:
    """The status row of a Synthetix PerpsV2 position (a ``manager.protocols.synthetix_perps.types.PerpSnapshot``);
    ``oracle_issues``: why the oracle of the market's asset is not trusted (the snapshot's ``oracle_issues``)."""
    from manager.protocols.synthetix_perps.math import SNX_UNIT, perp_metrics, snx_exact_liquidation_price
    from manager.sizing._checks import BadInputError

    met = perp_metrics(snap)
    open_ = snap.position.size_wad != 0
    liq: float | None = None
    if open_:
        try:
            b = snx_exact_liquidation_price(snap.market, snap.position, snap.block_timestamp)
            liq = b.boundary_price_wad / SNX_UNIT if b.boundary_price_wad else b.price_usd
        except BadInputError:
            liq = None
    px = met["price_usd"]
    notional = met["notional_usd"]
    return {
        "name": snap.name,
        "protocol": "synthetix_perps",
        "account": snap.account,
        "block_number": snap.block_number,
        "collateral_usd": met["remaining_margin_usd"],
        "debt_usd": notional,
        "health_factor": met["health"] if open_ else None,
        "ltv": met["margin_ratio"] if open_ else None,
        "liquidation_threshold": ((met["liquidation_margin_usd"] + met["liquidation_premium_usd"]) / notional
                                  if open_ and notional else None),
        "available_borrows_usd": None,
        "liquidation_prices": {snap.market.market: liq},
        "distance_to_liquidation_pct": perp_distance_pct(snap.position.size_wad, px, liq,
                                                         met["health"] if open_ else None),
        "oracle_fresh": not snap.market.price_invalid and not oracle_issues,
        # extras
        "market": snap.market.market_key or snap.market.market,
        "size": met["size"],
        "price_usd": px,
        "leverage": met["leverage"],
        "margin_usd": met["margin_usd"],
        "accrued_funding_usd": met["accrued_funding_usd"],
        "pnl_usd": met["pnl_usd"],
        "liquidation_margin_usd": met["liquidation_margin_usd"],
        "liquidation_premium_usd": met["liquidation_premium_usd"],
        "wallet_susd": snap.wallet_susd_wad / SNX_UNIT,
        "oracle_issues": (["market price invalid"] if snap.market.price_invalid else []) + list(oracle_issues),
    }


def perp_distance_pct(size_wad: int, price_usd: float, liq_usd: float | None, health: float | None) -> float | None:
    """% move of the price *against* the position to its liquidation price; 0 once liquidatable.

    A long is liquidated by a fall (``(px - liq) / px``), a short by a rise (``(liq - px) / px``); a
    liquidation price on the wrong side of the price (or health <= 1) means it is liquidatable now.
    """
    if liq_usd is None or not price_usd or size_wad == 0:
        return None
    if health is not None and health <= 1:
        return 0.0
    move = (price_usd - liq_usd) if size_wad > 0 else (liq_usd - price_usd)
    return max(0.0, move / price_usd * 100)
