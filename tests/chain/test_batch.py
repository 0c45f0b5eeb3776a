"""Read plans (``manager.chain.batch``) on a real multicall: lockstep rounds merged into one ``execute``, gathered
parts advanced as soon as their chunks are back, results identical to running each plan alone."""

from __future__ import annotations

import pytest

from manager.chain import batch
from manager.chain.batch import gather, run_plan, run_plans
from manager.chain.multicall import Call
from manager.errors import DataQualityError

from .conftest import ALICE, BOB, DEPLOYER

pytestmark = pytest.mark.chain


def _balance(devnet, who: str) -> Call:
    return Call.build(devnet.token, "balanceOf(address)", [who], ["uint256"], label=f"balance {who[:6]}")


def _two_rounds(devnet, first: str, second: str, log: list[str], tag: str):
    (a,) = yield [_balance(devnet, first)]
    log.append(f"{tag}:1")
    (b,) = yield [_balance(devnet, second)]
    log.append(f"{tag}:2")
    return int(a.unwrap()), int(b.unwrap())


def _counting(monkeypatch) -> list[int]:
    sizes: list[int] = []
    real = batch.execute_chunks

    def counting(client, calls, block, **kw):
        sizes.append(len(calls))
        return real(client, calls, block, **kw)

    monkeypatch.setattr(batch, "execute_chunks", counting)
    return sizes


def test_rounds_of_every_plan_are_merged_and_results_match_each_plan_alone(devnet, monkeypatch):
    devnet.mint(ALICE, 1_000)
    devnet.mint(BOB, 7)
    client = devnet.client()
    block = int(client.request("eth_blockNumber", []), 16)
    alone = run_plan(client, _two_rounds(devnet, ALICE, BOB, [], "x"), block)
    sizes = _counting(monkeypatch)
    log: list[str] = []
    got = run_plans(client, {"p": _two_rounds(devnet, ALICE, BOB, log, "p"),
                             "q": _two_rounds(devnet, BOB, DEPLOYER, log, "q")}, block)
    assert got == {"p": alone, "q": (7, 0)} and alone == (1_000, 7)
    assert sizes == [2, 2]  # two rounds, each ONE execute carrying both plans' calls
    assert log == ["p:1", "q:1", "p:2", "q:2"]


def test_gathered_parts_are_advanced_as_soon_as_their_chunks_are_back(devnet, monkeypatch):
    devnet.mint(ALICE, 5)
    client = devnet.client(multicall_chunk_size=1, max_parallel_requests=2)
    block = int(client.request("eth_blockNumber", []), 16)
    seen: list[tuple[str, int]] = []  # (event, results delivered to the runner so far)
    delivered = [0]
    real = batch.execute_chunks

    def tracking(client_, calls, block_, **kw):
        for start, chunk in real(client_, calls, block_, **kw):
            delivered[0] = start + len(chunk)
            yield start, chunk

    monkeypatch.setattr(batch, "execute_chunks", tracking)

    def part(tag: str, who: str):
        (r,) = yield [_balance(devnet, who)]
        seen.append((tag, delivered[0]))
        return int(r.unwrap())

    def whole():
        a, b, c = yield from gather(part("a", ALICE), part("b", BOB), part("c", ALICE))
        seen.append(("whole", delivered[0]))
        return a + b + c

    assert run_plan(client, whole(), block) == 10
    # each part ran once its own one-call chunk was back, before the later chunks were
    assert seen == [("a", 1), ("b", 2), ("c", 3), ("whole", 3)]


def test_a_failing_part_fails_its_plan_alone(devnet):
    client = devnet.client()
    block = int(client.request("eth_blockNumber", []), 16)

    def bad():
        (r,) = yield [Call.build(DEPLOYER, "balanceOf(address)", [ALICE], ["uint256"], label="not a token")]
        return r.unwrap()  # no code at the address: the read fails, unwrap raises DataQualityError

    def good():
        (r,) = yield [_balance(devnet, ALICE)]
        return int(r.unwrap())

    got = run_plans(client, {"bad": gather(bad(), good()), "good": good()}, block)
    assert isinstance(got["bad"], DataQualityError) and "not a token" in str(got["bad"])
    assert got["good"] == 0
