"""Watch a position and alert on liquidation risk; never act.

The health bands of the alerts (warning, critical, hysteresis, persistence) are the ``[alerts.rules]``
of the config (``health_overrides.<position>`` for this one); this strategy only declares that the
position is never acted upon, so ``decide`` always returns "nothing to do" with that reason. It takes
any protocol's snapshot (lending or perp): the runtime alerts on the health.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from manager.domain import PositionSnapshot, SizingDecision
from strategies.api import StrategyConfig, StrategyContext, no_action

INTERFACE_VERSION = 1


class Config(StrategyConfig):
    """``alert_only`` takes no parameters besides an optional note shown in logs."""

    note: str = Field(default="", max_length=200)


def decide(config: Config, snapshot: PositionSnapshot | Any, ctx: StrategyContext) -> SizingDecision | None:
    return no_action(ctx, "alert_only: watched, never acted upon" + (f" ({config.note})" if config.note else ""),
                     binding="alert_only")
