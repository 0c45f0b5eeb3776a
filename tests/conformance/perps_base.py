"""The perp-adapter conformance suite: written once, subclassed per protocol (Synthetix PerpsV2, ...).

Every perp adapter must show, on the real contracts of the session devnet:

1. **snapshot exactness**: on randomized positions (market, side, margin, leverage, funding accrued over random
   time on a skewed market), the adapter's numbers equal the contract's own views at the same block, to the wei:
   remaining margin, accrued funding, the liquidation price and keeper fee (the view's price is built from the
   liquidation margin: it fixes that too), and the liquidation verdict;
2. **the liquidation boundary**: the project's exact liquidation price, on the feed's grid, flips the contract's
   ``canLiquidate`` one price unit apart (at the probe block's time, funding accrued to it), and at both probes
   every view equals the project's, re-priced there (the keeper fee, reported only when liquidatable, too);
3. **encoders that execute**: margin in -> open with a bounded fill price -> grow -> a fill bound the fill
   breaks reverts and changes nothing -> reduce -> margin out, each the adapter's own unsigned ``TxStep``s, with
   the read-back position as expected;
4. **a margin-ratio repair that reaches its target**: a position pushed below its trigger (the oracle moves
   against it) is brought to the target margin ratio by executing the adapter's plan (margin from the wallet,
   or a size cut with a bounded fill price).

Hooks: a subclass sets ``kind`` (the registry key), ``markets`` and implements the devnet hooks (funding an
account, moving the oracle, reading the contract's views: test scaffolding, not adapter code). The adapter hooks
(``read``, ``project_views(_at)``, ``boundary_answer``, ``can_liquidate_at``, ``encode_*``, ``repair``, ``margin_ratio``)
default to the registry adapter's method of the same name (``manager.protocols.registry.adapter(kind)``; see
``adapter_call``): a new adapter that has them passes the suite with a subclass of devnet hooks only. Until the
adapters carry those methods (issue 13 branches), the subclass overrides them with the protocol module's functions.

Tests live here only. Timing: the boundary probes stamp their blocks at a chosen time (``anvil_setTime`` +
``evm_setNextBlockTimestamp``) so the project's view and the contract's check accrue the same funding.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from manager.execution.types import TxStep

SEEDS = range(5)  # randomized cases per adapter
WAD = 10**18
TRIGGER_RATIO, TARGET_RATIO, BAND = 0.1, 0.2, 0.01  # margin ratio = remaining margin / notional (1 / leverage)


@dataclass
class PerpHandle:
    """An open perp position on the devnet: whose, in which market (and what the subclass needs)."""

    account: str
    market: str  # the suite's market name ("ETH")
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PerpViews:
    """One position's numbers at one block, as the contract reports them or as the project computes them."""

    size_wad: int
    margin_wad: int
    remaining_margin_wad: int
    accrued_funding_wad: int
    liquidation_price_wad: int  # the protocol's own (approximate) liquidation price view
    liquidation_fee_wad: int  # the keeper's fee (part of the liquidation margin) when liquidatable now, else 0
    can_liquidate: bool


class PerpAdapterConformance:
    """Base class: subclass it with ``Test...``, set ``kind`` and ``markets``, implement the devnet hooks."""

    kind: ClassVar[str] = ""
    markets: ClassVar[tuple[str, ...]] = ()
    accounts: ClassVar[tuple[str, ...]] = ("manager1", "manager2", "watcher1", "keeper")

    # ---------------------------------------------------------------- the adapter (registry) hook point
    def adapter_call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``adapter(kind).<method>(*args)``: the adapter's own implementation of an adapter hook.

        NOTE: a hook without a subclass override lands here; an adapter lacking the method fails the suite with a
        line naming it (implement it on the adapter, or override the hook in the subclass)."""
        from manager.protocols.registry import adapter

        fn = getattr(adapter(self.kind), method, None)
        if fn is None:
            raise NotImplementedError(f"{type(self).__name__}: the {self.kind} adapter has no {method}(); implement "
                                      f"it there or override the hook {method} in the conformance subclass")
        return fn(*args, **kwargs)

    # ---------------------------------------------------------------- devnet hooks (per protocol)
    def fund_margin(self, chain: Any, account: str, amount_wad: int) -> None:
        """Give ``account`` ``amount_wad`` of the margin asset in its wallet."""
        raise NotImplementedError

    def set_oracle_answer(self, chain: Any, market: str, answer: int, timestamp_s: int | None = None) -> int:
        """Set the market's oracle to ``answer`` (feed units) in a block stamped ``timestamp_s``; its number."""
        raise NotImplementedError

    def oracle_answer(self, chain: Any, market: str) -> int:
        raise NotImplementedError

    def protocol_views(self, chain: Any, h: PerpHandle, block: int) -> PerpViews:
        """The contract's own views of the position at ``block`` (direct calls, not the adapter's reads)."""
        raise NotImplementedError

    def skew_market(self, chain: Any, market: str, seed: int) -> None:
        """Make the market's skew non-zero and let funding accrue (random time, recorded and unrecorded)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- adapter hooks (default: the adapter's)
    def read(self, chain: Any, client: Any, h: PerpHandle, block: int | None = None) -> Any:
        """The adapter's snapshot at ``block`` (default: latest)."""
        return self.adapter_call("read", client, h.account, h.market, block)

    def project_views(self, snap: Any) -> PerpViews:
        """The project's numbers for the snapshot at its own block (same units as ``protocol_views``)."""
        return self.adapter_call("project_views", snap)  # type: ignore[no-any-return]

    def project_views_at(self, snap: Any, answer: int, timestamp_s: int) -> PerpViews:
        """The project's numbers for the snapshot's position with the oracle at ``answer`` at ``timestamp_s``
        (funding accrued to it), nothing else changed."""
        return self.adapter_call("project_views_at", snap, answer, timestamp_s)  # type: ignore[no-any-return]

    def boundary_answer(self, snap: Any, timestamp_s: int) -> int:
        """The oracle answer (feed units) at which the project says the position becomes liquidatable at
        ``timestamp_s``: liquidatable there, not one unit on the safe side."""
        return self.adapter_call("boundary_answer", snap, timestamp_s)  # type: ignore[no-any-return]

    def can_liquidate_at(self, snap: Any, answer: int, timestamp_s: int) -> bool:
        """The project's verdict with the oracle at ``answer`` at ``timestamp_s``."""
        return self.adapter_call("can_liquidate_at", snap, answer, timestamp_s)  # type: ignore[no-any-return]

    def encode_transfer_margin(self, snap: Any, margin_delta_wad: int) -> list[TxStep]:
        return list(self.adapter_call("encode_transfer_margin", snap, margin_delta_wad))

    def encode_modify_position(self, snap: Any, size_delta_wad: int, slippage_bps: int) -> list[TxStep]:
        """A size change at the read block's exact fill price moved ``slippage_bps`` against us (the bound)."""
        return list(self.adapter_call("encode_modify_position", snap, size_delta_wad, slippage_bps))

    def encode_modify_position_at(self, snap: Any, size_delta_wad: int, fill_bound_wad: int) -> list[TxStep]:
        """A size change with an explicit fill-price bound."""
        return list(self.adapter_call("encode_modify_position_at", snap, size_delta_wad, fill_bound_wad))

    def exact_fill_wad(self, snap: Any, size_delta_wad: int) -> int:
        """The fill price the protocol gives ``size_delta_wad`` at the snapshot's state."""
        return self.adapter_call("exact_fill_wad", snap, size_delta_wad)  # type: ignore[no-any-return]

    def repair(self, snap: Any, trigger_ratio: float, target_ratio: float, prefer: str) -> tuple[Any, list[TxStep]]:
        """(decision, its unsigned calls) bringing the margin ratio to ``target_ratio``."""
        return self.adapter_call("repair", snap, trigger_ratio, target_ratio, prefer)  # type: ignore[no-any-return]

    def margin_ratio(self, snap: Any) -> float:
        return self.adapter_call("margin_ratio", snap)  # type: ignore[no-any-return]

    def price_unit_wad(self, snap: Any) -> int:
        """One oracle unit in wad (an 8-decimal feed: 1e10)."""
        return self.adapter_call("price_unit_wad", snap)  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- shared helpers
    @staticmethod
    def send(chain: Any, sender: str, steps: list[TxStep]) -> None:
        for s in steps:
            tx = {"from": sender, "to": s.to, "data": s.data, "value": s.value_wei, "gas": 3_000_000}
            r = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_transaction(tx), timeout=30,
                                                          poll_latency=0.01)
            if r["status"] != 1:
                raise AssertionError(f"step reverted: {s.describe()}")

    @staticmethod
    def reverts(chain: Any, sender: str, step: TxStep) -> bool:
        tx = {"from": sender, "to": step.to, "data": step.data, "value": step.value_wei, "gas": 3_000_000}
        r = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_transaction(tx), timeout=30, poll_latency=0.01)
        return bool(r["status"] != 1)

    def open(self, chain: Any, client: Any, account_name: str, market: str, margin_wad: int, size_wad: int) -> PerpHandle:
        """Fund, deposit ``margin_wad``, open ``size_wad`` (signed) through the adapter's encoders."""
        h = PerpHandle(account=chain.address(account_name), market=market)
        self.fund_margin(chain, h.account, margin_wad)
        snap = self.read(chain, client, h)
        self.send(chain, h.account, self.encode_transfer_margin(snap, margin_wad))
        snap = self.read(chain, client, h)
        self.send(chain, h.account, self.encode_modify_position(snap, size_wad, 100))
        return h

    def _random_position(self, chain: Any, client: Any, seed: int) -> PerpHandle:
        rng = random.Random(f"{self.kind}-{seed}")
        market = rng.choice(self.markets)
        self.skew_market(chain, market, seed)
        price = self.oracle_answer(chain, market) * 10**10  # wad (8-decimal feeds)
        margin_usd = rng.uniform(500, 50_000)
        leverage = rng.uniform(1.5, 10)
        side = rng.choice((1, -1))
        size_wad = side * int(margin_usd * leverage * WAD * WAD // price)
        h = self.open(chain, client, self.accounts[seed % len(self.accounts)], market, int(margin_usd * WAD), size_wad)
        warp = rng.choice([0, 3_600, 86_400 * rng.randint(1, 2)])
        if warp:  # funding accrues unrecorded on the position; the oracle gets a fresh round (not stale)
            chain.node.call("evm_increaseTime", [warp])
            self.set_oracle_answer(chain, market, self.oracle_answer(chain, market))
        return h

    @staticmethod
    def at_timestamp(chain: Any, ts: int) -> None:
        chain.node.call("anvil_setTime", [ts])
        chain.node.call("evm_setNextBlockTimestamp", [ts])

    # ---------------------------------------------------------------- 1. snapshot exactness

    def entry(self, chain: Any, h: PerpHandle) -> Any:
        """This market's ``[[protocols]]`` entry (an instance of its adapter's ``config_model``)."""
        raise NotImplementedError

    def test_adapter_reads_what_the_hooks_read(self, chain, client):
        """The registry adapter's read plan (the tick's path) reads the same position as the direct hook."""
        from tests.conformance.base import assert_adapter_interface, read_through_adapter

        h = self._random_position(chain, client, next(iter(SEEDS)))
        block = chain.w3.eth.block_number
        direct = self.read(chain, client, h, block)
        got = read_through_adapter(client, self.kind, self.entry(chain, h), h.account, block)
        snap = assert_adapter_interface(self.kind, got, direct)
        assert snap.position == direct.position and snap.market == direct.market

    @pytest.mark.parametrize("seed", SEEDS)
    def test_snapshot_equals_protocol_views(self, chain, client, seed):
        h = self._random_position(chain, client, seed)
        snap = self.read(chain, client, h)
        ours, theirs = self.project_views(snap), self.protocol_views(chain, h, snap.block_number)
        assert theirs.size_wad != 0 and ours == theirs, (ours, theirs)

    # ---------------------------------------------------------------- 2. liquidation boundary
    @pytest.mark.parametrize("seed", SEEDS)
    def test_can_liquidate_flips_one_price_unit_apart(self, chain, client, seed):
        h = self._random_position(chain, client, seed)
        snap = self.read(chain, client, h)
        probe_ts = snap.block_timestamp + 13  # the probe block's time: funding accrues to it
        boundary = self.boundary_answer(snap, probe_ts)
        long = self.project_views(snap).size_wad > 0
        safe = boundary + 1 if long else boundary - 1  # one feed unit on the safe side
        assert self.can_liquidate_at(snap, boundary, probe_ts) and not self.can_liquidate_at(snap, safe, probe_ts)
        for answer, expected in ((boundary, True), (safe, False)):
            snap_id = chain.snapshot()
            try:
                block = self.set_oracle_answer(chain, h.market, answer, probe_ts)
                assert int(chain.w3.eth.get_block(block)["timestamp"]) == probe_ts
                theirs = self.protocol_views(chain, h, block)
                assert theirs.can_liquidate is expected, (
                    f"{self.kind}: answer {answer} (boundary {boundary}, long={long}): project says "
                    f"can_liquidate={expected}, the contract {theirs.can_liquidate}")
                # every view at the probe, re-priced by the project: the keeper fee is reported (liquidatable)
                assert self.project_views_at(snap, answer, probe_ts) == theirs
                assert (theirs.liquidation_fee_wad > 0) is expected
            finally:
                chain.revert(snap_id)

    # ---------------------------------------------------------------- 3. encoders execute
    def test_encoders_execute(self, chain, client):
        market = self.markets[0]
        h = PerpHandle(account=chain.address(self.accounts[0]), market=market)
        self.fund_margin(chain, h.account, 20_000 * WAD)
        snap = self.read(chain, client, h)
        self.send(chain, h.account, self.encode_transfer_margin(snap, 10_000 * WAD))
        snap = self.read(chain, client, h)
        v = self.project_views(snap)
        assert (v.size_wad, v.margin_wad) == (0, 10_000 * WAD)
        size = 20_000 * WAD * WAD // snap.market.price_wad  # ~2x
        self.send(chain, h.account, self.encode_modify_position(snap, size, 50))
        snap = self.read(chain, client, h)
        assert self.project_views(snap).size_wad == size
        grow = size // 2
        self.send(chain, h.account, self.encode_modify_position(snap, grow, 50))
        snap = self.read(chain, client, h)
        assert self.project_views(snap).size_wad == size + grow
        # a bound the fill breaks (a buy whose worst price is below the exact fill) reverts and changes nothing
        fill = self.exact_fill_wad(snap, grow)
        (tight,) = self.encode_modify_position_at(snap, grow, fill - self.price_unit_wad(snap))
        assert self.reverts(chain, h.account, tight)
        snap = self.read(chain, client, h)
        assert self.project_views(snap).size_wad == size + grow
        (at_fill,) = self.encode_modify_position_at(snap, -grow, self.exact_fill_wad(snap, -grow))  # exactly: ok
        self.send(chain, h.account, [at_fill])
        snap = self.read(chain, client, h)
        before = self.project_views(snap)
        assert before.size_wad == size
        self.send(chain, h.account, self.encode_transfer_margin(snap, -1_000 * WAD))
        after = self.project_views(self.read(chain, client, h))
        # margin out: exactly what was withdrawn (the trades' PnL and funding were realized into margin)
        assert after.size_wad == size and after.margin_wad == before.remaining_margin_wad - 1_000 * WAD

    # ---------------------------------------------------------------- 4. margin-ratio repair reaches its target
    @pytest.mark.parametrize("prefer", ["add_margin", "cut_size"])
    def test_margin_ratio_repair_reaches_target(self, chain, client, prefer):
        market = self.markets[0]
        price = self.oracle_answer(chain, market)
        margin_wad = 5_000 * WAD
        size = int(margin_wad * 8 * WAD // (price * 10**10))  # long ~8x: ratio ~0.125
        h = self.open(chain, client, self.accounts[1], market, margin_wad, size)
        self.fund_margin(chain, h.account, 50_000 * WAD if prefer == "add_margin" else 0)
        self.set_oracle_answer(chain, market, price * 96 // 100)  # -4%: the ratio falls below the trigger
        snap = self.read(chain, client, h)
        before = self.margin_ratio(snap)
        assert before < TRIGGER_RATIO and not self.project_views(snap).can_liquidate, before
        decision, steps = self.repair(snap, TRIGGER_RATIO, TARGET_RATIO, prefer)
        assert decision.feasible and steps, decision.reason
        self.send(chain, h.account, steps)
        after = self.margin_ratio(self.read(chain, client, h))
        print(f"{self.kind} repair ({prefer}): margin ratio {before:.6f} -> {after:.6f} (target {TARGET_RATIO}); "
              f"{decision.reason}")
        assert after >= TARGET_RATIO * (1 - BAND) and abs(after / TARGET_RATIO - 1) <= BAND, (before, after)
