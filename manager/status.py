"""Status rows: what ``posman status`` prints, computed locally from one tick's raw reads.

The JSON field names are a stable contract (documented in README "posman status"):

``name, protocol, account, block_number, collateral_usd, debt_usd, health_factor, ltv,
liquidation_threshold, available_borrows_usd, liquidation_prices, distance_to_liquidation_pct,
oracle_fresh`` plus extras: ``health_factor_wad`` (string, exact), ``total_collateral_base``,
``total_debt_base``, ``available_borrows_base`` (ints in the protocol's base unit), ``base_unit``,
``current_ltv`` (debt / collateral), ``emode_category``, ``isolated_asset``, ``oracle_issues``,
``protocol_version`` (the Aave release whose rules were applied, from ``POOL_REVISION``), ``flash_loan_premium_bps``
and ``liquidation`` (the worst single ``liquidationCall``: ``collateral``, ``debt``, ``close_factor``,
``max_repay``/``seized`` in tokens, ``bonus``, ``loss_usd``, ``bad_debt``, ``deficit_usd``, ``liquidatable_now``;
null without debt), all under the version's v3.3+ (or v3.0) liquidation rules.

Units: USD values are floats; ``ltv`` and ``liquidation_threshold`` are fractions (0.825 = 82.5%),
the protocol's weighted maximum LTV and liquidation threshold (``getUserAccountData``'s ``ltv`` and
``currentLiquidationThreshold``); ``health_factor`` is null when there is no debt (the protocol
returns uint256 max); ``distance_to_liquidation_pct`` is the percentage drop of every collateral
price, debt prices held, at which the health factor reaches 1 (null without debt).

Synthetix PerpsV2 rows (``perp_status_row``) keep the same keys with perp meanings:
``collateral_usd`` = remaining margin (margin + PnL + funding), ``debt_usd`` = notional (|size| x price),
``health_factor`` = remaining liquidatable margin / liquidation margin (``canLiquidate`` at <= 1; null
without a position), ``ltv`` = the current margin ratio (remaining margin / notional = 1/leverage),
``liquidation_threshold`` = the margin ratio at which the position becomes liquidatable,
``available_borrows_usd`` = null, ``liquidation_prices`` = {market: the exact oracle price at which
``canLiquidate`` flips, funding and keeper-fee clamp included}; extras ``market``, ``size``, ``price_usd``,
``leverage``, ``margin_usd``, ``accrued_funding_usd``, ``pnl_usd``, ``liquidation_margin_usd``,
``liquidation_premium_usd``, ``wallet_susd``.
"""

from __future__ import annotations

from typing import Any

from manager.domain import UINT256_MAX, WAD
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing.aave import account_data, liquidation_prices

FIELDS = (
    "name", "protocol", "account", "block_number", "collateral_usd", "debt_usd", "health_factor", "ltv",
    "liquidation_threshold", "available_borrows_usd", "liquidation_prices", "distance_to_liquidation_pct",
    "oracle_fresh",
)


def status_row(snap: LendingPositionSnapshot) -> dict[str, Any]:
    acc = account_data(snap)
    unit = snap.base_unit
    no_debt = acc.health_factor_wad == UINT256_MAX
    hf = None if no_debt else acc.health_factor_wad / WAD
    coll_usd = acc.total_collateral_base / unit
    debt_usd = acc.total_debt_base / unit
    return {
        "name": snap.name,
        "protocol": snap.protocol,
        "account": snap.account,
        "block_number": snap.block_number,
        "collateral_usd": coll_usd,
        "debt_usd": debt_usd,
        "health_factor": hf,
        "ltv": acc.ltv_bps / 10_000,
        "liquidation_threshold": acc.current_liquidation_threshold_bps / 10_000,
        "available_borrows_usd": acc.available_borrows_base / unit,
        "liquidation_prices": liquidation_prices(snap),
        "distance_to_liquidation_pct": None if hf is None else max(0.0, (1 - 1 / hf) * 100) if hf > 0 else 0.0,
        "oracle_fresh": snap.oracle_fresh,
        # extras (exact values and context)
        "health_factor_wad": str(acc.health_factor_wad),
        "total_collateral_base": acc.total_collateral_base,
        "total_debt_base": acc.total_debt_base,
        "available_borrows_base": acc.available_borrows_base,
        "base_unit": unit,
        "current_ltv": (debt_usd / coll_usd) if coll_usd else None,
        "emode_category": snap.emode_category_id,
        "isolated_asset": snap.isolated_asset,
        "oracle_issues": list(snap.oracle_issues),
        "protocol_version": snap.protocol_version,
        "flash_loan_premium_bps": snap.flash_loan_premium_bps,
        "liquidation": _liquidation_view(snap),
    }


def _liquidation_view(snap: LendingPositionSnapshot) -> dict[str, Any] | None:
    """The worst single ``liquidationCall`` on the position (``sizing.liquidation.worst_liquidation``: the
    version's close factor, $2,000 thresholds, $1,000 leftover rule and deficit), valued just below HF 1 when the
    position is above it. ``None`` without debt. Amounts in the assets' token units and USD."""
    from manager.sizing.liquidation import worst_liquidation

    q = worst_liquidation(snap)
    if q is None:
        return None
    rc, rd = snap.reserves[q.collateral_asset], snap.reserves[q.debt_asset]
    return {
        "collateral": q.collateral_symbol, "debt": q.debt_symbol, "close_factor": q.close_factor_bps / 10_000,
        "max_repay": q.debt_to_cover_wei / 10**rd.decimals,
        "seized": q.collateral_removed_wei / 10**rc.decimals,
        "bonus": q.bonus_bps / 10_000 - 1, "loss_usd": q.loss_base / snap.base_unit, "bad_debt": q.bad_debt,
        "deficit_usd": q.deficit_base / snap.base_unit,
        "liquidatable_now": account_data(snap).health_factor_wad < WAD,
    }


def perp_status_row(snap: Any, oracle_issues: tuple[str, ...] = ()) -> dict[str, Any]:
    """The status row of a Synthetix PerpsV2 position (a ``manager.protocols.synthetix_perps.types.PerpSnapshot``);
    ``oracle_issues``: why the oracle of the market's asset is not trusted (the snapshot's ``oracle_issues``)."""
    from manager.sizing._checks import BadInputError
    from manager.sizing.perp import SNX_UNIT, perp_metrics, snx_exact_liquidation_price

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


def status_rows(tick: Any) -> list[dict[str, Any]]:
    """One row per snapshot of the tick (its adapter's ``status_row``), grouped by protocol kind in registry order
    (each group in the tick's order); perps get their ``hedge`` views."""
    from manager.protocols.registry import adapter_of, kinds

    rank = {k: i for i, k in enumerate(kinds())}
    snaps = sorted(tick.snapshots.values(), key=lambda s: rank.get(s.protocol, len(rank)))
    rows = [adapter_of(s).status_row(s) for s in snaps]
    if any(adapter_of(s).family == "perp" for s in snaps):
        _add_hedges(tick, rows)
    order = {p: i for i, p in enumerate(getattr(tick, "order", ()) or ())}
    return sorted(rows, key=lambda r: order.get(r["name"], 0)) if order else rows


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


STATUS_HEAD = ("position", "protocol", "block", "collateral $", "debt $", "HF", "LTV/LT", "avail $",
               "liq. price", "to liq.", "oracle")


def status_cells(r: dict[str, Any]) -> tuple[str, ...]:
    """The printed cells of one status row (``STATUS_HEAD`` order)."""
    liq = ", ".join(f"{k} {v:,.2f}" for k, v in r["liquidation_prices"].items() if v is not None) or "-"
    return (
        r["name"], r["protocol"], str(r["block_number"]), _usd(r["collateral_usd"]), _usd(r["debt_usd"]),
        "no debt" if r["health_factor"] is None else f"{r['health_factor']:.4f}",
        f"{_pct(r['ltv'])}/{_pct(r['liquidation_threshold'])}", _usd(r["available_borrows_usd"]), liq,
        "-" if r["distance_to_liquidation_pct"] is None else f"{r['distance_to_liquidation_pct']:.1f}%",
        "fresh" if r["oracle_fresh"] else "STALE: " + "; ".join(r["oracle_issues"]),
    )


def render_table(rows: list[dict[str, Any]], errors: dict[str, str] | None = None) -> str:
    head = STATUS_HEAD
    lines = [status_cells(r) for r in rows]
    for name, err in (errors or {}).items():
        lines.append((name, "-", "-", "-", "-", "-", "-", "-", "-", "-", f"READ FAILED: {err}"))
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i in (0, 1, 8, 10) else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*x) for x in lines]
    return "\n".join(out)


def _add_hedges(tick: Any, rows: list[dict[str, Any]]) -> None:
    """Where one account holds an Aave position and a perp, add a ``hedge`` object to both rows.

    ``hedge``: the perp's ``underlying``, ``net_exposure_usd`` per asset (collateral - debt + perp
    notional), ``hedge_ratio`` (-perp notional / lending exposure to the underlying; 1 = fully hedged),
    ``equity_usd`` of both legs, and ``liquidation_move_down`` / ``liquidation_move_up``: the smallest
    common move of the underlying's price (e.g. -0.31 = a 31% fall) that liquidates either leg, with the
    leg it hits first (``binding_leg_down`` / ``binding_leg_up``). Computed by ``sizing.hedge`` at the
    tick's block; VaR is left out here (it needs a volatility the status read does not have).
    """
    from manager.protocols.registry import adapter_of
    from manager.sizing.hedge import hedged_view

    # NOTE: the lending leg is a position with reserves (``sizing.hedge`` values its collateral and debt per asset)
    lending_by_account = {snap.account.lower(): (name, snap) for name, snap in tick.snapshots.items()
                          if adapter_of(snap).family == "lending" and hasattr(snap, "reserves")}
    by_name = {r["name"]: r for r in rows}
    for perp_name, perp in tick.snapshots.items():
        if adapter_of(perp).family != "perp":
            continue
        account = str(getattr(perp, "account", "") or "").lower()
        if account not in lending_by_account:
            continue
        lending_name, lending = lending_by_account[account]
        try:
            view = hedged_view(lending, perp)
        except Exception as exc:  # a view that cannot be formed must not hide the positions
            hedge: dict[str, Any] = {"error": " ".join(str(exc).split())[:200]}
        else:
            hedge = {
                "lending_position": lending_name, "perp_position": perp_name, "underlying": view.underlying,
                "net_exposure_usd": view.exposure_usd, "hedge_ratio": view.hedge_ratio,
                "equity_usd": view.equity_usd, "liquidation_move_down": view.liquidation_move_down,
                "liquidation_move_up": view.liquidation_move_up, "binding_leg_down": view.binding_leg_down,
                "binding_leg_up": view.binding_leg_up,
            }
        for name in (lending_name, perp_name):
            if name in by_name:
                by_name[name]["hedge"] = hedge


def hedge_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One readable line per lending + perp pair (see ``_add_hedges``)."""
    out, seen = [], set()
    for r in rows:
        h = r.get("hedge")
        if not h or "lending_position" not in h or (h["lending_position"], h["perp_position"]) in seen:
            continue
        seen.add((h["lending_position"], h["perp_position"]))
        net = ", ".join(f"{k} {v:+,.0f}" for k, v in h["net_exposure_usd"].items())
        down = "-" if h["liquidation_move_down"] is None else f"{h['liquidation_move_down']:+.1%} ({h['binding_leg_down']})"
        up = "-" if h["liquidation_move_up"] is None else f"{h['liquidation_move_up']:+.1%} ({h['binding_leg_up']})"
        out.append(f"hedge {h['lending_position']} + {h['perp_position']}: net exposure USD {net}; hedge ratio "
                   f"{h['hedge_ratio']:.2f}; equity ${h['equity_usd']:,.0f}; first liquidation at {h['underlying']} "
                   f"{down} / {up}")
    return out
