"""The lending-adapter conformance suite: written once, subclassed per protocol (Aave V3, Morpho Blue...).

Every adapter must show, on the real contracts of the session devnet:

1. **snapshot exactness**: the snapshot the adapter builds equals the protocol's own view at the same
   block (``assert_protocol_view``: Aave ``getUserAccountData``; Morpho the raw views plus the amounts
   the contract itself books when repaying / borrowing at that state);
2. **the liquidation boundary**: on randomized positions (random collateral, borrow fraction, interest
   accrued over random time), the project's health decides, one oracle unit apart, whether the real
   ``liquidate`` / ``liquidationCall`` succeeds: at the smallest collateral price the project calls
   healthy it reverts, one feed unit lower it goes through;
3. **encoders that execute**: supply -> borrow -> partial repay -> partial withdraw -> full repay sent as
   the adapter's own unsigned ``TxStep``s, with the read-back balances as expected;
4. **a deleverage that reaches its target**: a position pushed below its trigger is brought back to
   the target within +-0.5% by executing the adapter's plan steps.

Timing: liquidation blocks are stamped with the snapshot's own timestamp (``evm_setNextBlockTimestamp``)
so the project's view and the contract's check see the same accrued interest.

Subclasses implement the hooks below; tests live here only. ``protocol`` is the adapter's registry kind: the
adapter-level hooks (``health``, ``balances``: snapshot in, numbers out) default to the registry adapter's method
of the same name (``adapter_call``, ``manager.protocols.registry.adapter(protocol)``), the others are devnet
scaffolding or call the protocol module's functions until its adapter carries them (issue 13 branches); an
override in a subclass marks where the adapter method is still missing. The perp suite is ``perps_base.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from manager.execution.types import TxStep

SEEDS = range(6)  # randomized boundary cases per adapter
TRIGGER_HF, TARGET_HF, BAND = 1.2, 1.4, 0.005


def read_through_adapter(client: Any, kind: str, entry: Any, account: str, block: int) -> Any:
    """The tick's path: the registry adapter of ``kind`` reads ``account``'s position on ``entry`` with its
    ``read_plan`` (``manager.chain.batch.run_plan``) at ``block``; returns the ``ProtocolRead``."""
    from manager.chain.batch import run_plan
    from manager.protocols import registry
    from manager.protocols.reading import PositionRequest, ReadContext

    ts = client.block_timestamp(block)
    ctx = ReadContext(block_number=block, block_timestamp=ts, now_s=float(ts), heartbeat_s=lambda _s: 10**9)
    return run_plan(client, registry.adapter(kind).read_plan(entry, [PositionRequest("conf", account)], ctx), block)


def assert_adapter_interface(kind: str, got: Any, direct: Any) -> Any:
    """What every adapter's read must give (shared by the lending and perp suites): the position read through the
    read plan, a snapshot of the adapter's declared type that names its adapter, the same health to the unit as the
    direct read, its oracle symbols among the feeds it reports, and a status row with the stable fields."""
    from manager.protocols import registry
    from manager.status import FIELDS

    ad = registry.adapter(kind)
    assert not got.errors, got.errors
    snap = got.snapshots["conf"]
    assert ad.snapshot_type is not None and type(snap) is ad.snapshot_type
    assert registry.adapter_of(snap) is ad and snap.protocol == kind
    assert snap.health_view().health_factor_wad == direct.health_view().health_factor_wad
    assert snap.block_number == direct.block_number
    fed = {f.symbol for f in got.feeds}
    assert set(snap.oracle_symbols()) <= fed, (snap.oracle_symbols(), fed)
    row = ad.status_row(snap)
    assert set(FIELDS) <= set(row), set(FIELDS) - set(row)
    assert row["protocol"] == kind and row["name"] == "conf"
    return snap


@dataclass
class Handle:
    """An open position on the devnet: who, and what the subclass needs to find it again."""

    account: str
    collateral: str  # symbol of the collateral (whose feed the tests move)
    loan: str  # symbol of the debt token
    extra: dict[str, Any] = field(default_factory=dict)


class LendingAdapterConformance:
    """Base class: subclass it with ``Test...`` and implement every hook."""

    protocol = ""  # the adapter's registry kind ("aave_v3", "morpho_blue", ...)
    markets: tuple[tuple[str, str], ...] = ()  # (collateral, loan) pairs to draw from
    spare_accounts = ("spare1", "spare2", "spare3", "watcher1")

    # ---------------------------------------------------------------- the adapter (registry) hook point
    def adapter_call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``adapter(protocol).<method>(*args)``: the adapter's own implementation of an adapter-level hook; an
        adapter lacking it fails with a line naming the method (implement it there, or override the hook)."""
        from manager.protocols.registry import adapter

        fn = getattr(adapter(self.protocol), method, None)
        if fn is None:
            raise NotImplementedError(f"{type(self).__name__}: the {self.protocol} adapter has no {method}(); "
                                      f"implement it there or override the hook {method} in the conformance subclass")
        return fn(*args, **kwargs)

    # ---------------------------------------------------------------- hooks (per adapter)
    def open_position(self, chain: Any, account: str, collateral: str, loan: str, collateral_tokens: float,
                      borrow_fraction: float) -> Handle:
        """Supply ``collateral_tokens`` and borrow ``borrow_fraction`` of the maximum borrow."""
        raise NotImplementedError

    def read(self, chain: Any, client: Any, h: Handle, block: int | None = None) -> Any:
        """The adapter's snapshot at ``block`` (default: latest)."""
        raise NotImplementedError

    def health(self, snap: Any) -> float:
        """The project's health factor of the snapshot (1.0 = liquidatable): its protocol-neutral health view."""
        return float(snap.health_view().health)

    def healthy_at_answer(self, snap: Any, h: Handle, answer: int) -> bool:
        """The project's verdict (not liquidatable) with the collateral feed at ``answer``, same block."""
        raise NotImplementedError

    def feed_answer(self, snap: Any, h: Handle) -> int:
        raise NotImplementedError

    def fund_liquidator(self, chain: Any, h: Handle) -> None:
        """Give the liquidator the debt token and the approval (before the snapshot is read)."""
        raise NotImplementedError

    def send_liquidation(self, chain: Any, h: Handle, snap: Any) -> bool:
        """Send the real liquidation tx (one tx, funded liquidator); True if it was mined successfully."""
        raise NotImplementedError

    def assert_protocol_view(self, chain: Any, client: Any, h: Handle, snap: Any) -> None:
        raise NotImplementedError

    def encode_supply(self, chain: Any, h: Handle, amount_wei: int) -> list[TxStep]:
        raise NotImplementedError

    def encode_borrow(self, chain: Any, h: Handle, amount_wei: int) -> list[TxStep]:
        raise NotImplementedError

    def encode_repay(self, chain: Any, h: Handle, amount_wei: int | None, snap: Any) -> list[TxStep]:
        """``amount_wei=None``: the whole debt."""
        raise NotImplementedError

    def encode_withdraw(self, chain: Any, h: Handle, amount_wei: int) -> list[TxStep]:
        raise NotImplementedError

    def balances(self, snap: Any) -> tuple[int, int]:
        """(collateral_wei, debt_wei) of the snapshot (debt rounded as the protocol does)."""
        return self.adapter_call("balances", snap)  # type: ignore[no-any-return]

    def deleverage_steps(self, chain: Any, h: Handle, snap: Any, target_hf: float) -> tuple[Any, list[TxStep]]:
        """(decision, the unsigned calls that carry it out)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shared helpers
    @staticmethod
    def send(chain: Any, sender: str, steps: list[TxStep]) -> None:
        for s in steps:
            tx = {"from": sender, "to": s.to, "data": s.data, "value": s.value_wei, "gas": 3_000_000}
            h = chain.w3.eth.send_transaction(tx)
            r = chain.w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.01)
            if r["status"] != 1:
                reason = ""
                try:
                    chain.w3.eth.call({k: v for k, v in tx.items() if k != "gas"}, r["blockNumber"] - 1)
                except Exception as exc:  # the revert reason, for the failure message
                    reason = str(exc)
                raise AssertionError(f"step reverted: {s.describe()} {reason}")

    @staticmethod
    def at_timestamp(chain: Any, ts: int) -> None:
        # NOTE: anvil checks evm_setNextBlockTimestamp against its own running clock, which can be a
        # second past the head; put the clock on ``ts`` first so stamping the next block at ``ts`` works.
        chain.node.call("anvil_setTime", [ts])
        chain.node.call("evm_setNextBlockTimestamp", [ts])

    def _random_position(self, chain: Any, seed: int) -> Handle:
        rng = random.Random(f"{self.protocol}-{seed}")
        collateral, loan = rng.choice(self.markets)
        usd = rng.uniform(2_000, 400_000)
        tokens = round(usd / (chain.oracle_price(collateral) / 1e8), 6)
        account = chain.address(self.spare_accounts[seed % len(self.spare_accounts)])
        h = self.open_position(chain, account, collateral, loan, tokens, rng.uniform(0.3, 0.97))
        warp = rng.choice([0, 1, 3_600, 86_400 * rng.randint(1, 200)])
        if warp:  # interest accrues: shares/indices move away from 1:1
            chain.node.call("evm_increaseTime", [warp])
            chain.mine(1)
        return h

    def entry(self, chain: Any, h: Handle) -> Any:
        """This market's ``[[protocols]]`` entry (an instance of its adapter's ``config_model``)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- 0. the adapter interface
    def test_adapter_reads_what_the_hooks_read(self, chain, client):
        """The registry adapter's read plan (the tick's path) reads the same position as the direct hook."""
        h = self._random_position(chain, next(iter(SEEDS)))
        block = chain.w3.eth.block_number
        direct = self.read(chain, client, h, block)
        got = read_through_adapter(client, self.protocol, self.entry(chain, h), h.account, block)
        snap = assert_adapter_interface(self.protocol, got, direct)
        assert self.health(snap) == self.health(direct)

    # ---------------------------------------------------------------- 1. snapshot exactness
    @pytest.mark.parametrize("seed", SEEDS)
    def test_snapshot_equals_protocol_view(self, chain, client, seed):
        h = self._random_position(chain, seed)
        snap = self.read(chain, client, h)
        self.assert_protocol_view(chain, client, h, snap)

    # ---------------------------------------------------------------- 2. liquidation boundary
    @pytest.mark.parametrize("seed", SEEDS)
    def test_liquidation_boundary(self, chain, client, seed):
        h = self._random_position(chain, seed)
        self.fund_liquidator(chain, h)
        snap = self.read(chain, client, h)
        current = self.feed_answer(snap, h)
        assert self.healthy_at_answer(snap, h, current)
        lo, hi = 1, current  # invariant: unhealthy at lo (price ~0), healthy at hi
        assert not self.healthy_at_answer(snap, h, lo)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.healthy_at_answer(snap, h, mid):
                hi = mid
            else:
                lo = mid
        boundary = hi  # the smallest answer the project calls healthy
        ts = int(chain.w3.eth.get_block(snap.block_number)["timestamp"])
        feed = chain.feed(h.collateral)
        for answer, healthy in ((boundary, True), (boundary - 1, False)):
            snap_id = chain.snapshot()
            try:
                self.at_timestamp(chain, ts)
                chain.transact(feed.functions.updateAnswer(answer))
                self.at_timestamp(chain, ts)  # same timestamp: no interest between the view and the check
                liquidated = self.send_liquidation(chain, h, snap)
                assert liquidated is (not healthy), (
                    f"{self.protocol}: project says healthy={healthy} at answer {answer} (boundary {boundary}), "
                    f"but liquidation {'succeeded' if liquidated else 'reverted'}")
            finally:
                chain.revert(snap_id)

    # ---------------------------------------------------------------- 3. encoders execute
    def test_encoders_execute(self, chain, client):
        collateral, loan = self.markets[0]
        account = chain.address("spare3")
        h = Handle(account=account, collateral=collateral, loan=loan)
        dec_c, dec_l = chain.book["decimals"][collateral], chain.book["decimals"][loan]
        coll = 5 * 10**dec_c if collateral != "WBTC" else 10**dec_c // 4
        self.fund(chain, account, collateral, coll)
        self.send(chain, account, self.encode_supply(chain, h, coll))
        snap = self.read(chain, client, h)
        assert self.balances(snap)[0] >= coll - 1  # Aave aToken rounding may cost one wei
        borrow = 1_000 * 10**dec_l
        self.send(chain, account, self.encode_borrow(chain, h, borrow))
        snap = self.read(chain, client, h)
        c1, d1 = self.balances(snap)
        # rounded against the borrower; a second of interest may pass between blocks (wall-clock stamps)
        assert borrow <= d1 <= borrow + 2 + borrow // 10**8
        self.send(chain, account, self.encode_repay(chain, h, 400 * 10**dec_l, snap))
        snap = self.read(chain, client, h)
        _, d2 = self.balances(snap)
        assert 600 * 10**dec_l <= d2 <= d1 - 400 * 10**dec_l + 2 + d1 // 10**8
        self.send(chain, account, self.encode_withdraw(chain, h, coll // 5))
        snap = self.read(chain, client, h)
        c3, _ = self.balances(snap)
        assert c1 - coll // 5 - 1 <= c3 <= c1 - coll // 5 + 1 + c1 // 10**8  # supply interest may accrue
        self.send(chain, account, self.encode_repay(chain, h, None, snap))
        snap = self.read(chain, client, h)
        assert self.balances(snap)[1] == 0

    def fund(self, chain: Any, account: str, symbol: str, amount_wei: int) -> None:
        from manager.devnet.artifacts import Deployer
        from manager.devnet.morpho import fund

        fund(Deployer(chain.w3, account), chain.w3, chain.book, account, symbol, amount_wei)

    # ---------------------------------------------------------------- 4. deleverage reaches target
    def test_deleverage_reaches_target(self, chain, client):
        collateral, loan = self.markets[0]
        h = self.open_position(chain, chain.address("spare2"), collateral, loan,
                               round(60_000 / (chain.oracle_price(collateral) / 1e8), 6), 0.0)
        snap = self.read(chain, client, h)
        # borrow to HF ~1.3, then a price drop pushes it below the trigger
        self.borrow_to_health(chain, client, h, snap, 1.3)
        price = chain.oracle_price(collateral) / 1e8
        chain.set_price(collateral, price * 0.85)
        snap = self.read(chain, client, h)
        before = self.health(snap)
        assert 1.0 < before < TRIGGER_HF, before
        decision, steps = self.deleverage_steps(chain, h, snap, TARGET_HF)
        assert decision.action == "deleverage" and decision.feasible, decision.reason
        assert steps
        self.send(chain, h.account, steps)
        after = self.health(self.read(chain, client, h))
        print(f"{self.protocol} deleverage: HF {before:.6f} -> {after:.6f} (target {TARGET_HF}, projected "
              f"{decision.projected_health:.6f}, {decision.rounds} round(s))")
        assert abs(after / TARGET_HF - 1) <= BAND, (before, after, decision.projected_health)

    def borrow_to_health(self, chain: Any, client: Any, h: Handle, snap: Any, hf: float) -> None:
        raise NotImplementedError
