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

FIELDS = (
    "name", "protocol", "account", "block_number", "collateral_usd", "debt_usd", "health_factor", "ltv",
    "liquidation_threshold", "available_borrows_usd", "liquidation_prices", "distance_to_liquidation_pct",
    "oracle_fresh",
)


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
