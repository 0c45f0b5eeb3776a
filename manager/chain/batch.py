"""One batched read per tick: every protocol adapter's reads, executed together at one block.

A **read plan** is a generator. Each ``yield`` hands the runner a list of ``Call`` (one *round* of the
plan: calls that do not depend on each other) and receives their ``CallResult`` list, in order; the
generator's ``return`` value is the plan's result. A plan whose next round depends on the previous one
(Aave: the reserve list, then each reserve) simply yields again.

``run_plans`` advances every plan in lockstep: round k of every plan is merged into ONE ``execute`` (multicall
chunks in parallel, ``manager.chain.multicall``), so a tick costs as many round trips as its deepest plan,
not the sum over protocols. A plan that raises ``PosmanError`` fails alone: its key maps to the exception and
the other plans go on. Within a round, results stream: a plan (or a part of one, ``gather`` / ``Round``) is
advanced as soon as the chunks holding its calls are back, so its decoding overlaps the node's execution of
the round's later chunks (``multicall.execute_chunks``); round k+1 still goes out once round k is complete.

    def plan(token, account) -> ReadPlan[int]:
        (res,) = yield [Call.build(token, "balanceOf(address)", (account,), ("uint256",))]
        return int(res.unwrap())

    out = run_plans(client, {"alice": plan(weth, alice)}, block)
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from manager.chain.multicall import Call, CallResult, execute_chunks
from manager.errors import PosmanError

T = TypeVar("T")
K = TypeVar("K")

ReadPlan = Generator[list[Call], list[CallResult], T]


class Round(list):  # type: ignore[type-arg]
    """A round of calls (a ``list[Call]``) whose parts may be delivered early: ``parts`` are ``(start, end,
    deliver)``, and ``run_plans`` calls ``deliver(results[start:end])`` as soon as the chunks covering
    ``[start, end)`` are back, while the rest of the round is still in flight (``gather`` builds them: each
    gathered plan decodes its part of a big round, and builds its next round, meanwhile)."""

    parts: list[tuple[int, int, Callable[[list[CallResult]], None]]]

    def __init__(self, calls: Any = ()) -> None:
        super().__init__(calls)
        self.parts = []


def _parts_of(calls: Any, offset: int) -> list[tuple[int, int, Callable[[list[CallResult]], None]]]:
    return [(offset + s, offset + e, fn) for s, e, fn in getattr(calls, "parts", ())]


def run_plans(client: Any, plans: Mapping[K, ReadPlan[Any]], block_number: int) -> dict[K, Any]:
    """Run every read plan at ``block_number`` in lockstep (see the module docstring).

    Returns ``key -> result`` (the generator's return value) or ``key -> PosmanError`` for a plan that
    raised one. A transport failure of a merged round (``execute`` raising) fails every plan of that round.
    NOTE: round k+1 is sent once round k is back in full; within a round, a plan (or a gathered part, see
    ``Round``) is advanced as soon as its own calls are back, while the round's later chunks are in flight.
    """
    out: dict[K, Any] = {}
    pending: dict[K, tuple[ReadPlan[Any], list[Call]]] = {}
    for key, gen in plans.items():
        _advance(key, gen, None, pending, out)
    while pending:
        current = dict(pending)
        pending.clear()
        merged: list[Call] = []
        parts: list[tuple[int, int, Callable[[list[CallResult]], None]]] = []
        for key, (gen, calls) in current.items():
            start = len(merged)
            merged.extend(calls)
            parts += _parts_of(calls, start)

            def deliver(res: list[CallResult], key: Any = key, gen: ReadPlan[Any] = gen) -> None:
                _advance(key, gen, res, pending, out)

            parts.append((start, len(merged), deliver))
        parts.sort(key=lambda p: (p[1], -p[0]))  # by end; a part inside another one first
        results: list[CallResult] = []
        fired = 0
        try:
            chunks = execute_chunks(client, merged, block_number) if merged else iter(())
            for _start, chunk in chunks:
                results.extend(chunk)
                while fired < len(parts) and parts[fired][1] <= len(results):
                    s, e, fn = parts[fired]
                    fired += 1
                    fn(results[s:e])
            while fired < len(parts):
                s, e, fn = parts[fired]
                fired += 1
                fn(results[s:e])
        except PosmanError as exc:
            for key, (gen, _calls) in current.items():
                if key not in out:
                    gen.close()
                    out[key] = exc
            for key, (gen, _calls) in list(pending.items()):
                gen.close()
                out[key] = exc
            pending.clear()
            break
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
    pending[key] = (gen, _round_of(calls))


def gather(*plans: ReadPlan[Any]) -> ReadPlan[tuple[Any, ...]]:
    """A plan running ``plans`` side by side (round k of each merged into one round); returns their results.

    For a plan made of independent parts (``yield from gather(a, b)``): the parts cost as many rounds as the
    deepest one. Each part is advanced as soon as its own calls are back (``Round``). A part that raises ends
    the gathered plan with that exception (the other parts are closed).
    """
    results: list[Any] = [None] * len(plans)
    pending: dict[int, list[Call]] = {}
    failed: list[BaseException] = []
    for i, gen in enumerate(plans):
        try:
            pending[i] = _round_of(next(gen))
        except StopIteration as stop:
            results[i] = stop.value
    advanced: dict[int, list[Call]] = {}
    delivered: set[int] = set()

    def deliver(i: int, res: list[CallResult]) -> None:
        delivered.add(i)
        if failed:
            return
        try:
            advanced[i] = _round_of(plans[i].send(res))
        except StopIteration as stop:
            results[i] = stop.value
        except BaseException as exc:  # re-raised from the gathered plan itself, below
            failed.append(exc)

    try:
        while pending:
            merged = Round()
            spans: list[tuple[int, int, int]] = []
            for i, calls in pending.items():
                start = len(merged)
                merged.extend(calls)
                merged.parts += _parts_of(calls, start)
                merged.parts.append((start, len(merged), functools.partial(deliver, i)))
                spans.append((i, start, len(merged)))
            advanced.clear()
            delivered.clear()
            got = yield merged
            for i, start, end in spans:
                if i not in delivered:
                    deliver(i, got[start:end])
            if failed:
                raise failed[0]
            pending = dict(advanced)
    finally:
        for gen_i in pending:
            if gen_i not in advanced:
                plans[gen_i].close()
        for gen_i in advanced:
            plans[gen_i].close()
    return tuple(results)


def _round_of(calls: Any) -> list[Call]:
    return calls if isinstance(calls, Round) else list(calls)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused meanwhile (restored on exit).

    NOTE: a tick of 10,000 positions builds ~10^6 objects (calls, results, snapshots), none of them cyclic
    garbage; meanwhile the collector would walk the whole heap several times (measured: a quarter of the
    tick's read, ``bench/bench_reads.py``). It runs again, as usual, once the read is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_plan(client: Any, plan: ReadPlan[T], block_number: int) -> T:
    """One plan alone (raises its ``PosmanError``)."""
    got = run_plans(client, {0: plan}, block_number)[0]
    if isinstance(got, PosmanError):
        raise got
    return got  # type: ignore[no-any-return]


__all__ = ["ReadPlan", "Round", "gather", "gc_paused", "run_plan", "run_plans"]
