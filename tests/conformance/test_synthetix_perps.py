"""Synthetix PerpsV2 passes the perp conformance suite (every perp contract compiled unmodified from npm synthetix
2.102.1; the market's views answer through its ``ProxyPerpsV2``).

The adapter hooks call the protocol modules (``manager.protocols.synthetix_perps.reads`` / ``.encode``, the exact
integer emulation in ``manager.protocols.synthetix_perps.math``) until ``SynthetixPerpsAdapter`` carries them (issue 13): then the
overrides below marked "adapter hook" go, and the suite runs on the adapter's own methods
(``PerpAdapterConformance.adapter_call``).
"""

from __future__ import annotations

import random
from typing import Any

from manager.devnet.synthetix import market_abi
from manager.domain import SizingDecision
from manager.execution.planner import build_plan
from manager.execution.types import TxStep
from manager.protocols.synthetix_perps import encode as enc
from manager.protocols.synthetix_perps import math as P
from manager.protocols.synthetix_perps.plan import PerpPlanContext
from manager.protocols.synthetix_perps.reads import PerpsV2Addresses, read_perps
from manager.protocols.synthetix_perps.types import PerpSnapshot
from tests.conformance.perps_base import WAD, PerpAdapterConformance, PerpHandle, PerpViews

_ABI: list[dict[str, Any]] = []


def _market(chain: Any, market: str) -> Any:
    if not _ABI:
        _ABI.extend(market_abi())
    return chain.w3.eth.contract(address=chain.book["synthetix"]["markets"][market]["proxy"], abi=_ABI)


def _feed_symbol(chain: Any, market: str) -> str:
    return str(chain.book["synthetix"]["markets"][market]["devnet_symbol"])


class TestSynthetixPerpsConformance(PerpAdapterConformance):
    kind = "synthetix_perps"
    markets = ("ETH", "BTC")
    whale = "manager3"  # skews the market (tests revert after each)

    # ---------------------------------------------------------------- devnet hooks
    def fund_margin(self, chain, account, amount_wad) -> None:
        """Mint sUSD through the real ``Synth.issue`` from the account the resolver names as Issuer."""
        if amount_wad <= 0:
            return
        from eth_abi import encode
        from eth_utils import function_signature_to_4byte_selector

        snx = chain.book["synthetix"]
        data = function_signature_to_4byte_selector("issue(address,uint256)") + encode(["address", "uint256"],
                                                                                       [account, amount_wad])
        tx = chain.w3.eth.send_transaction({"from": snx["issuer"], "to": snx["susd_synth"], "data": "0x" + data.hex(),
                                            "gas": 500_000})
        assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

    def set_oracle_answer(self, chain, market, answer, timestamp_s=None) -> int:
        if timestamp_s is not None:
            self.at_timestamp(chain, timestamp_s)
        receipt = chain.transact(chain.feed(_feed_symbol(chain, market)).functions.updateAnswer(answer))
        return int(receipt["blockNumber"])

    def oracle_answer(self, chain, market) -> int:
        return chain.oracle_price(_feed_symbol(chain, market))

    def protocol_views(self, chain, h, block) -> PerpViews:
        mkt = _market(chain, h.market)

        def call(fn: str) -> Any:
            return getattr(mkt.functions, fn)(h.account).call(block_identifier=block)

        _id, _idx, margin, _last, size = call("positions")
        return PerpViews(size_wad=int(size), margin_wad=int(margin), remaining_margin_wad=int(call("remainingMargin")[0]),
                         accrued_funding_wad=int(call("accruedFunding")[0]),
                         liquidation_price_wad=int(call("liquidationPrice")[0]),
                         liquidation_fee_wad=int(call("liquidationFee")), can_liquidate=bool(call("canLiquidate")))

    def skew_market(self, chain, market, seed) -> None:
        """The whale trades a random size (long or short), time passes, a trade records funding, more passes."""
        rng = random.Random(f"skew-{market}-{seed}")
        whale = chain.address(self.whale)
        price = self.oracle_answer(chain, market) * 10**10
        notional_usd = rng.uniform(200_000, 3_000_000)
        size = rng.choice((1, -1)) * int(notional_usd * WAD // price * WAD)
        self.fund_margin(chain, whale, int(notional_usd / 5) * WAD)
        mkt = _market(chain, market)
        chain.transact(mkt.functions.transferMargin(int(notional_usd / 5) * WAD), whale)
        bound = price * 102 // 100 if size > 0 else price * 98 // 100
        chain.transact(mkt.functions.modifyPosition(size, bound), whale)
        for _ in range(2):
            chain.node.call("evm_increaseTime", [rng.randint(600, 43_200)])
            self.set_oracle_answer(chain, market, self.oracle_answer(chain, market))  # a fresh round, same price
            chain.transact(mkt.functions.modifyPosition(size // 1000, bound), whale)  # records funding

    # ---------------------------------------------------------------- adapter hooks (until the adapter has them)
    def entry(self, chain, h) -> Any:
        from manager.protocols import registry

        snx = chain.book["synthetix"]
        return registry.adapter(self.kind).config_model(
            name=f"snx-{h.market}", chain="devnet", kind=self.kind, market=snx["markets"][h.market]["proxy"],
            settings=snx["perps_settings"], exchange_rates=snx["exchange_rates"], susd=snx["susd"],
            market_key=snx["markets"][h.market]["market_key"])

    def read(self, chain, client, h, block=None) -> PerpSnapshot:
        block = chain.w3.eth.block_number if block is None else block
        snx = chain.book["synthetix"]
        (snap,), _ = read_perps(client, PerpsV2Addresses.from_book(snx, h.market), [h.account], block,
                                market_key=snx["markets"][h.market]["market_key"], with_reported=False)
        return snap

    def project_views(self, snap) -> PerpViews:
        return self.project_views_at(snap, snap.market.price_wad // self.price_unit_wad(snap), snap.block_timestamp)

    def project_views_at(self, snap, answer, timestamp_s) -> PerpViews:
        m, pos, ts, px = snap.market, snap.position, timestamp_s, answer * self.price_unit_wad(snap)
        can = P.snx_can_liquidate(m, pos, px, ts)
        # NOTE: PerpsV2MarketViews.liquidationFee answers 0 unless the position can be liquidated now
        return PerpViews(size_wad=pos.size_wad, margin_wad=pos.margin_wad,
                         remaining_margin_wad=P.snx_remaining_margin_wad(m, pos, px, ts),
                         accrued_funding_wad=P.snx_accrued_funding_wad(m, pos, px, ts),
                         liquidation_price_wad=P.snx_approx_liquidation_price_wad(m, pos, px, ts),
                         liquidation_fee_wad=P.snx_liquidation_fee_wad(m, pos.size_wad, px) if can else 0,
                         can_liquidate=can)

    def boundary_answer(self, snap, timestamp_s) -> int:
        b = P.snx_exact_liquidation_price(snap.market, snap.position, timestamp_s)
        assert b.boundary_price_wad is not None, b
        return b.boundary_price_wad // self.price_unit_wad(snap)

    def can_liquidate_at(self, snap, answer, timestamp_s) -> bool:
        return P.snx_can_liquidate(snap.market, snap.position, answer * self.price_unit_wad(snap), timestamp_s)

    def encode_transfer_margin(self, snap, margin_delta_wad) -> list[TxStep]:
        return [enc.transfer_margin(snap.market_address, margin_delta_wad)]

    def encode_modify_position(self, snap, size_delta_wad, slippage_bps) -> list[TxStep]:
        bound = enc.desired_fill_price_wad(snap.market, size_delta_wad, slippage_bps)
        return [enc.modify_position(snap.market_address, size_delta_wad, bound)]

    def encode_modify_position_at(self, snap, size_delta_wad, fill_bound_wad) -> list[TxStep]:
        return [enc.modify_position(snap.market_address, size_delta_wad, fill_bound_wad)]

    def exact_fill_wad(self, snap, size_delta_wad) -> int:
        return enc.fill_price_wad(snap.market, size_delta_wad)

    def repair(self, snap, trigger_ratio, target_ratio, prefer) -> tuple[SizingDecision, list[TxStep]]:
        config = P.PerpMarginConfig(trigger_margin_ratio=trigger_ratio, target_margin_ratio=target_ratio,
                                    prefer=prefer)
        decision = P.decide_perp(snap, config)
        # the planner the tick runs (``execution.planner.build_plan`` with the context ``posman run`` wires)
        plan = build_plan(decision, snap, PerpPlanContext(account=snap.account, max_slippage_bps=50))
        return decision, list(plan.steps)

    def margin_ratio(self, snap) -> float:
        return P.perp_metrics(snap)["margin_ratio"]

    def price_unit_wad(self, snap) -> int:
        return 10 ** (18 - snap.market.price_decimals)


__all__ = ["PerpHandle", "TestSynthetixPerpsConformance"]
