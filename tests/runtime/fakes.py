"""Fakes for runtime unit tests: a reader that serves prepared ticks and an executor that records plans."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from manager.domain import OracleReading
from manager.execution.types import ExecutionResult


@dataclass(frozen=True)
class FakeTick:
    block_number: int
    block_timestamp: int
    snapshots: dict[str, Any]
    oracles: dict[str, OracleReading] = field(default_factory=dict)
    depth: dict[tuple[str, str], Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class FakeReader:
    """``read(now_s, block_number)`` returns the next prepared tick (or raises a prepared exception)."""

    def __init__(self, ticks: list[Any]) -> None:
        self.ticks = list(ticks)
        self.calls: list[tuple[float, int | None]] = []

    def read(self, now_s: float, block_number: int | None = None) -> Any:
        self.calls.append((now_s, block_number))
        item = self.ticks.pop(0) if len(self.ticks) > 1 else self.ticks[0]
        if isinstance(item, BaseException):
            raise item
        return item


class FakeExecutor:
    def __init__(self, status: str = "confirmed", reason: str = "") -> None:
        self.plans: list[Any] = []
        self.status = status
        self.reason = reason

    def execute(self, plan: Any, **kw: Any) -> ExecutionResult:
        self.plans.append(plan)
        return ExecutionResult(plan_id=plan.plan_id, status=self.status, reason=self.reason, post_health=1.5)


def oracle(symbol: str, price: float, *, stale: bool = False, deviating: bool = False, block: int = 100) -> OracleReading:
    return OracleReading(symbol=symbol, feed="0x" + "11" * 20, answer=int(price * 1e8), decimals=8, round_id=1,
                         updated_at=1_700_000_000, block_number=block, block_timestamp=1_700_000_000,
                         heartbeat_s=3600, age_s=10, stale=stale, deviating=deviating)
