"""Shared by the price automations (``close_on_price``, ``trailing_stop``, ``price_trigger``, ``collateral_switch``):
the oracle price of a symbol at the tick's block, the atomic-path requirement, the automation's durable state, and
the Chainlink feeds a Morpho Blue snapshot carries.

Automations of one position are listed next to its strategy (``[[positions.automations]]``, each with ``kind`` =
the automation's module and its parameters). ``strategies.api.call_decide`` runs them in their listed order before
the strategy: the first that fires decides the block; when none fires the strategy decides as alone. The loader
refuses combinations that fight (``manager.runtime.strategies.load_automations``). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from manager.domain import SizingDecision
from strategies.api import StrategyContext, no_action


def oracle_price_usd(ctx: StrategyContext, symbol: str) -> float | None:
    """The tick's oracle price of ``symbol`` in USD (the Chainlink feed the Aave oracle follows), None if unread."""
    reading = ctx.oracles.get(symbol)
    if reading is None or reading.answer <= 0:
        return None
    return float(reading.answer / 10**reading.decimals)


def needs_atomic(ctx: StrategyContext, what: str) -> SizingDecision | None:
    """A no-action decision when the atomic path is not available (these automations are one transaction)."""
    if ctx.flash_premium_bps is None:
        return no_action(ctx, f"{what} fires but needs the atomic path (one transaction): "
                              f"{ctx.path_note or 'no executor contract configured'}", binding="no_atomic_path")
    return None


def with_path(decision: SizingDecision, ctx: StrategyContext, label: str) -> SizingDecision:
    reason = f"{label}: {decision.reason}" + (f"; {ctx.path_note}" if ctx.path_note and decision.action != "none"
                                               else "")
    return decision.model_copy(update={"reason": reason})


def automation_state(ctx: StrategyContext, key: str) -> dict[str, Any]:
    """The runtime's durable state of one automation (e.g. a trailing stop's peak), by automation key."""
    return dict(ctx.automation_state.get(key, {}))


def feeds_of(snapshot: Any, block_number: int | None = None, block_timestamp: int | None = None) -> dict[str, Any]:
    """The Chainlink feeds a Morpho Blue snapshot carries (its oracle's collateral / loan USD feeds) as
    ``OracleReading``s by symbol: a Morpho-only config has no other oracle reading of its assets."""
    from manager.domain import OracleReading

    out: dict[str, Any] = {}
    for side in ("collateral", "loan"):
        feed = getattr(snapshot, f"{side}_feed", None)
        symbol = getattr(snapshot, f"{side}_symbol", "")
        if feed is None or not symbol:
            continue
        out[symbol] = OracleReading(symbol=symbol, feed=feed.feed, answer=feed.answer, decimals=feed.decimals,
                                    round_id=feed.round_id, updated_at=feed.updated_at,
                                    block_number=int(block_number if block_number is not None else snapshot.block_number),
                                    block_timestamp=int(block_timestamp if block_timestamp is not None
                                                        else snapshot.block_timestamp),
                                    heartbeat_s=0, age_s=feed.age_s, stale=feed.stale)
    return out
