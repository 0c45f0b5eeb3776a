"""One batched read per tick: every protocol adapter's reads, executed together at one block.

A **read plan** is a generator. Each ``yield`` hands the runner a list of ``Call`` (one *round* of the
plan: calls that do not depend on each other) and receives their ``CallResult`` list, in order; the
generator's ``return`` value is the plan's result. A plan whose next round depends on the previous one
(Aave: the reserve list, then each reserve) simply yields again.

``run_plans`` advances every plan in lockstep: round k of every plan is merged into ONE ``execute`` (multicall
chunks in parallel, ``manager.chain.multicall``), so a tick costs as many round trips as its deepest plan,
not the sum over protocols. A plan that raises ``PosmanError`` fails alone: its key maps to the exception and
the other plans go on.

    def plan(token, account) -> ReadPlan[int]:
        (res,) = yield [Call.build(token, "balanceOf(address)", (account,), ("uint256",))]
        return int(res.unwrap())

    out = run_plans(client, {"alice": plan(weth, alice)}, block)
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, TypeVar

from manager.chain.multicall import Call, CallResult, execute
from manager.errors import PosmanError

T = TypeVar("T")
K = TypeVar("K")

ReadPlan = Generator[list[Call], list[CallResult], T]


def run_plans(client: Any, plans: Mapping[K, ReadPlan[Any]], block_number: int) -> dict[K, Any]:
    """Run every read plan at ``block_number`` in lockstep (see the module docstring).

    Returns ``key -> result`` (the generator's return value) or ``key -> PosmanError`` for a plan that
    raised one. A transport failure of a merged round (``execute`` raising) fails every plan of that round.
    """
    out: dict[K, Any] = {}
    pending: dict[K, tuple[ReadPlan[Any], list[Call]]] = {}
    for key, gen in plans.items():
        _advance(key, gen, None, pending, out)
    while pending:
        keys = list(pending)
        merged: list[Call] = []
        spans: list[tuple[int, int]] = []
        for key in keys:
            calls = pending[key][1]
            spans.append((len(merged), len(merged) + len(calls)))
            merged.extend(calls)
        try:
            results = execute(client, merged, block_number) if merged else []
        except PosmanError as exc:
            for key in keys:
                pending.pop(key)[0].close()
                out[key] = exc
            break
        current = dict(pending)
        pending.clear()
        for key, (start, end) in zip(keys, spans, strict=True):
            _advance(key, current[key][0], results[start:end], pending, out)
    return out


def _advance(key: Any, gen: ReadPlan[Any], sent: list[CallResult] | None, pending: dict[Any, Any],
             out: dict[Any, Any]) -> None:
    """Step one plan: park its next round in ``pending`` or record its result (or its error) in ``out``."""
    try:
        calls = next(gen) if sent is None else gen.send(sent)
    except StopIteration as stop:
        out[key] = stop.value
        return
    except PosmanError as exc:
        out[key] = exc
        return
    pending[key] = (gen, list(calls))


def gather(*plans: ReadPlan[Any]) -> ReadPlan[tuple[Any, ...]]:
    """A plan running ``plans`` side by side (round k of each merged into one round); returns their results.

    For a plan made of independent parts (``yield from gather(a, b)``): the parts cost as many rounds as the
    deepest one. A part that raises ends the gathered plan with that exception (the other parts are closed).
    """
    results: list[Any] = [None] * len(plans)
    pending: dict[int, list[Call]] = {}
    for i, gen in enumerate(plans):
        try:
            pending[i] = list(next(gen))
        except StopIteration as stop:
            results[i] = stop.value
    try:
        while pending:
            keys = list(pending)
            merged: list[Call] = []
            spans: list[tuple[int, int]] = []
            for i in keys:
                spans.append((len(merged), len(merged) + len(pending[i])))
                merged.extend(pending[i])
            got = yield merged
            pending = {}
            for i, (start, end) in zip(keys, spans, strict=True):
                try:
                    pending[i] = list(plans[i].send(got[start:end]))
                except StopIteration as stop:
                    results[i] = stop.value
    finally:
        for i in pending:
            plans[i].close()
    return tuple(results)


def run_plan(client: Any, plan: ReadPlan[T], block_number: int) -> T:
    """One plan alone (raises its ``PosmanError``)."""
    got = run_plans(client, {0: plan}, block_number)[0]
    if isinstance(got, PosmanError):
        raise got
    return got  # type: ignore[no-any-return]


__all__ = ["ReadPlan", "gather", "run_plan", "run_plans"]
