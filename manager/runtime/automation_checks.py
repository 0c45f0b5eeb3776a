"""Start-up checks of price automations against the position as it is (``posman run``, before the first tick).

Checked once at the head block, for each position whose strategy is ``cdp_health`` and which has a stop
(``close_on_price`` ``below_usd``; a ``trailing_stop``'s ``activation_usd`` level): the stop must be

- above the position's liquidation price of that asset alone (``posman status``'s exact Aave / Morpho math): a stop
  at or below it could only fire once the position can already be liquidated;
- below the price at which ``cdp_health``'s repay trigger (``trigger_health``) fires for that asset alone
  (``manager.web.state.trigger_prices``: health is affine in one collateral asset's price): a stop at or above it
  always fires first and the repay never runs.

A failure is a one-line ``ConfigError`` at the stop's line. Reads only (one block), sends nothing.
"""

from __future__ import annotations

import time
from typing import Any

from manager.errors import ConfigError


def check_automations_against_positions(cfg: Any, bound: dict[str, Any], reader: Any) -> None:
    """Refuse stops that cannot protect or that fight ``cdp_health`` (see the module docstring)."""
    todo = [(i, p) for i, p in enumerate(cfg.positions)
            if p.strategy == "cdp_health" and any(_stops(a) for a in bound[p.name].automations)]
    if not todo:
        return
    from manager.runtime.loop import _snapshot_of
    from manager.runtime.views import health_view
    from manager.status import status_rows
    from manager.web.state import _asset_prices, trigger_prices

    tick = reader.read(time.time())
    rows = {r["name"]: r for r in status_rows(tick)}
    for i, pos in todo:
        row, snap = rows.get(pos.name), _snapshot_of(tick, pos.name)
        if row is None or snap is None:
            continue  # not readable now: the run's own tick reports it
        health = health_view(snap).health
        liq = row.get("liquidation_prices") or {}
        trig = trigger_prices(health, bound[pos.name].config.trigger_health, liq, *_asset_prices(snap))
        for auto in bound[pos.name].automations:
            for asset, level, field in _stops(auto):
                where = ("positions", i, "automations", auto.index, field)
                p_liq = liq.get(asset)
                if p_liq is not None and level <= p_liq:
                    raise cfg.error(where, f"automation '{auto.key}' ({auto.kind}): its stop at {level:g} is at or "
                                           f"below {pos.name}'s liquidation price {p_liq:,.2f} of {asset} (block "
                                           f"{tick.block_number}): it could only fire once the position can be "
                                           "liquidated")
                p_trig = trig.get(asset)
                if p_trig is not None and level >= p_trig:
                    raise cfg.error(where, f"automation '{auto.key}' ({auto.kind}) fights the strategy: its stop at "
                                           f"{level:g} is at or above {p_trig:,.2f}, the {asset} price where "
                                           f"cdp_health's repay trigger (HF {bound[pos.name].config.trigger_health:g})"
                                           f" fires (block {tick.block_number}): the repay would never run")


def _stops(auto: Any) -> list[tuple[str, float, str]]:
    return [(asset, price, field) for asset, side, price, role, field in auto.module.levels(auto.config)
            if role == "stop" and side == "below"]


__all__ = ["ConfigError", "check_automations_against_positions"]
