"""Morpho Blue as a ``LoanModel`` (``manager.sizing.loan``): how a Morpho position's collateral and debt enter its health.

``MorphoLoanModel``: one Morpho Blue market position with the market accrued to the snapshot's block
(``Morpho._accrueInterest``); value unit = loan-token wei; weight = LLTV; health = ``maxBorrow / borrowed``
(``_isHealthy``: ``wMulDown(mulDivDown(c, price, 1e36), lltv)`` against ``toAssetsUp(shares)``); a borrow mints
``toSharesUp`` shares and must leave the position healthy and the market liquid; a repay burns ``toSharesDown``.
Its engines: the exact deleverage rounds (``manager.protocols.morpho_blue.decide``), the atomic sale
(``manager.protocols.morpho_blue.atomic``), the close by shares (``manager.protocols.morpho_blue.automations``).

Pure: no I/O. Mirrors morpho-blue v1.0.0 ``Morpho.sol``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from manager.domain import DepthCurve, SizingDecision
from manager.protocols.morpho_blue import math as mm
from manager.sizing._checks import BadInputError, NoDebtError
from manager.sizing.caps import SizingLimits
from manager.sizing.depth import SwapModel
from manager.sizing.fixed import UINT256_MAX, WAD, mul_div_down
from manager.sizing.loan import Capability, DeleverageOptions, LoanAsset, LoanModel, WalletMode
from manager.sizing.venues import DepthEntry, VenueSet, curves_of, venue_set


@dataclass(frozen=True)
class MorphoLoanModel(LoanModel):
    """One Morpho Blue market position, the market accrued to the block (``market``), exact shares math.

    ``market`` carries the loan/collateral token addresses and symbols; USD prices come from the oracle's feeds
    when it exposes them (None: USD caps cannot apply, and the decisions say so).
    """

    market: mm.MorphoMarket
    position: mm.MorphoPosition
    name: str
    account: str
    block_number: int
    block_timestamp: int
    loan_usd: float | None = None  # USD per loan token (whole)
    collateral_usd: float | None = None  # USD per collateral token (whole)
    collateral_usd_per_wei: float | None = None  # overrides ``collateral_usd`` (a caller's own USD per wei)

    @classmethod
    def of(cls, snap: Any) -> MorphoLoanModel:
        """From a ``MorphoPositionSnapshot``: the market accrued to its block (``market_now``)."""
        m = snap.market_now.model_copy(update={
            "loan_token": snap.params.loan_token, "collateral_token": snap.params.collateral_token,
            "loan_symbol": snap.loan_symbol, "collateral_symbol": snap.collateral_symbol})
        return cls(market=m, position=snap.position, name=snap.name or snap.account, account=snap.account,
                   block_number=snap.block_number, block_timestamp=snap.block_timestamp,
                   loan_usd=snap.loan_price_usd, collateral_usd=snap.collateral_price_usd)

    # ---- assets -----------------------------------------------------------------------------------
    @property
    def price(self) -> float:
        """Loan wei per collateral wei at the oracle."""
        return self.market.oracle_price / mm.ORACLE_PRICE_SCALE

    def _usd(self, per_token: float | None, decimals: int) -> float | None:
        if per_token is None or not math.isfinite(per_token) or per_token <= 0:
            return None
        return per_token / float(10**decimals)

    def assets(self) -> tuple[LoanAsset, ...]:
        m = self.market
        return (
            LoanAsset(asset=m.collateral_token, symbol=m.collateral_symbol, decimals=m.collateral_decimals,
                      collateral_wei=self.position.collateral_wei, debt_wei=0, value_per_wei=self.price,
                      weight=m.lltv_wad / WAD,
                      usd_per_wei=(self.collateral_usd_per_wei if self.collateral_usd_per_wei is not None
                                   else self._usd(self.collateral_usd, m.collateral_decimals))),
            LoanAsset(asset=m.loan_token, symbol=m.loan_symbol, decimals=m.loan_decimals, collateral_wei=0,
                      debt_wei=mm.borrowed_assets(m, self.position), value_per_wei=1.0, weight=0.0,
                      usd_per_wei=self._usd(self.loan_usd, m.loan_decimals)),
        )

    @property
    def collateral(self) -> LoanAsset:
        return self.assets()[0]

    @property
    def loan(self) -> LoanAsset:
        return self.assets()[1]

    def _is(self, asset: str, token: str, symbol: str) -> bool:
        return asset.lower() == token.lower() or (bool(symbol) and asset == symbol)

    def book_usd(self) -> tuple[float, float, float]:
        c, d = self.collateral, self.loan
        return (c.collateral_wei * (c.usd_per_wei or 0.0), d.debt_wei * (d.usd_per_wei or 0.0),
                self.market.lltv_wad / WAD)

    # ---- health -----------------------------------------------------------------------------------
    def health_wad(self) -> int:
        b = mm.borrowed_assets(self.market, self.position)
        if b == 0:
            return UINT256_MAX
        return mul_div_down(mm.max_borrow(self.market, self.position), WAD, b)

    def health(self) -> float:
        return mm.health_factor(self.market, self.position)

    def healthy(self) -> bool:
        return mm.is_healthy(self.market, self.position)

    def after(self, collateral_deltas_wei: Mapping[str, int] | None = None,
              debt_deltas_wei: Mapping[str, int] | None = None) -> MorphoLoanModel:
        m, p = self.market, self.position
        for asset, d in (collateral_deltas_wei or {}).items():
            if not self._is(asset, m.collateral_token, m.collateral_symbol):
                raise BadInputError(f"collateral delta of {asset}: not this market's collateral", field="asset",
                                    value=asset)
            if d < 0:
                p = mm.apply_withdraw_collateral(p, -d)
            elif d > 0:
                p = p.model_copy(update={"collateral_wei": p.collateral_wei + d})
        for asset, d in (debt_deltas_wei or {}).items():
            if not self._is(asset, m.loan_token, m.loan_symbol):
                raise BadInputError(f"debt delta of {asset}: not this market's loan token", field="asset", value=asset)
            if d > 0:  # Morpho.borrow(assets): toSharesUp shares minted, both totals grow
                shares = mm.to_shares_up(d, m.total_borrow_assets, m.total_borrow_shares)
                m = m.model_copy(update={"total_borrow_assets": m.total_borrow_assets + d,
                                         "total_borrow_shares": m.total_borrow_shares + shares})
                p = p.model_copy(update={"borrow_shares": p.borrow_shares + shares})
            elif d < 0:
                if -d >= mm.borrowed_assets(m, p):  # the whole debt goes by shares
                    m, p, _ = mm.apply_repay_shares(m, p, p.borrow_shares)
                else:
                    m, p = mm.apply_repay_assets(m, p, -d)
        return replace(self, market=m, position=p)

    # ---- gates ------------------------------------------------------------------------------------
    def borrow_ok(self, asset: str, amount_wei: int) -> bool:
        """``Morpho.borrow``: healthy afterwards and ``totalBorrowAssets <= totalSupplyAssets``."""
        if amount_wei <= 0:
            return True
        nxt = self.after(None, {asset: amount_wei})
        return nxt.healthy() and nxt.market.total_borrow_assets <= nxt.market.total_supply_assets

    def boost_blocked(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[str, str] | None:
        m = self.market
        if not self._is(borrow.asset, m.loan_token, m.loan_symbol):
            return "market", f"{borrow.symbol}: a boost borrows this market's loan token {m.loan_symbol}"
        if not self._is(supply.asset, m.collateral_token, m.collateral_symbol):
            return "market", f"{supply.symbol}: a boost supplies this market's collateral {m.collateral_symbol}"
        return None

    def boost_rooms(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[dict[str, int], int | None]:
        m = self.market
        return {"reserve_liquidity": max(0, m.total_supply_assets - m.total_borrow_assets)}, None

    def unsupported(self, what: Capability) -> str | None:
        if what == "collateral_switch":
            return "a Morpho Blue market has one collateral (switching means another market)"
        if what == "partial_close":
            return "a partial close of a Morpho Blue position is not supported"
        return None

    # ---- swaps ------------------------------------------------------------------------------------
    def curves(self, sell: LoanAsset, buy: LoanAsset,
               depth: Mapping[tuple[str, str], DepthEntry] | None) -> tuple[DepthCurve, ...]:
        """Every venue (pool / fee tier / two-hop route) selling ``sell`` for ``buy``, keyed by addresses or symbols;
        only curves that really trade this pair (a symbol key could name another market's token)."""
        if not depth:
            return ()
        keys = [(sell.asset, buy.asset), (sell.asset.lower(), buy.asset.lower()), (sell.symbol, buy.symbol)]
        entry = next((depth[k] for k in keys if k in depth), None)
        return tuple(c for c in curves_of(entry)
                     if c.token_in.lower() == sell.asset.lower() and c.token_out.lower() == buy.asset.lower())

    def venues(self, sell: LoanAsset, buy: LoanAsset, depth: Mapping[tuple[str, str], DepthEntry] | None,
               limits: SizingLimits) -> VenueSet:
        rate = sell.value_per_wei / buy.value_per_wei  # buy wei per sell wei at the Morpho oracle
        found = venue_set(self.curves(sell, buy, depth), limits, rate)
        if found is not None:
            return found
        model = SwapModel.oracle(price_in_base=sell.value_per_wei, price_out_base=buy.value_per_wei, decimals_in=0,
                                 decimals_out=0, fee_bps=limits.fallback_fee_bps, haircut_bps=limits.max_slippage_bps)
        return VenueSet.single(model.with_input_fee(limits.service_fee_bps), math.inf)

    # ---- wallet -----------------------------------------------------------------------------------
    def spendable_wallet(self, mode: WalletMode, wallet_wei: Mapping[str, int],
                         interrupted_proceeds_wei: Mapping[str, int]) -> dict[str, int]:
        """The wallet's collateral token (modes collateral/supply/all), its loan token with 'all', and the loan-token
        proceeds of an interrupted plan's mined swaps whatever the mode (except 'none')."""
        if mode == "none" or not wallet_wei:
            return {}
        coll, loan = self.market.collateral_token.lower(), self.market.loan_token.lower()
        held = {a.lower(): int(v) for a, v in wallet_wei.items() if v > 0}
        left = {a.lower(): int(w) for a, w in interrupted_proceeds_wei.items()}
        out: dict[str, int] = {}
        if held.get(coll):
            out[coll] = held[coll]
        if held.get(loan):
            out_loan = held[loan] if mode == "all" else min(held[loan], left.get(loan, 0))
            if out_loan > 0:
                out[loan] = out_loan
        return out

    # ---- engines ----------------------------------------------------------------------------------
    def deleverage_rounds(self, target_hf: float, *, depth: Mapping[tuple[str, str], DepthEntry] | None,
                          limits: SizingLimits | None, opts: DeleverageOptions) -> SizingDecision:
        from manager.protocols.morpho_blue.decide import decide_deleverage

        return decide_deleverage(self, target_hf, depth=depth, limits=limits, opts=opts)

    def atomic_deleverage(self, target_hf: float, *, premium_bps: int,
                          depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                          opts: DeleverageOptions) -> SizingDecision:
        from manager.protocols.morpho_blue.atomic import morpho_sale as _morpho_sale
        from manager.sizing.solver import atomic_pair_deleverage

        c, loan, lim = self.collateral, self.loan, limits or SizingLimits()
        if loan.debt_wei == 0:
            raise NoDebtError("borrow_shares=0: nothing to deleverage", field="borrow_shares", value=0)
        sale = _morpho_sale(self.market, self.curves(c, loan, depth), lim, opts.swap_haircut_bps)
        return atomic_pair_deleverage(
            self, target_hf, collateral=c, debt=loan, premium_bps=premium_bps, sale=sale, limits=lim,
            fallback_note=(f"no depth curve for {c.symbol}->{loan.symbol}: sale valued at the oracle less a "
                           f"{opts.swap_haircut_bps} bps haircut"))

    def close_position(self, *, out_asset: str, premium_bps: int, depth: Mapping[tuple[str, str], DepthEntry] | None,
                       limits: SizingLimits | None, fraction: float, debt_asset: str | None,
                       collateral_asset: str | None, name: str) -> SizingDecision:
        from manager.protocols.morpho_blue.automations import plan_atomic_close_morpho

        if fraction < 1:
            raise BadInputError(f"fraction={fraction:g}: {self.unsupported('partial_close')}", field="fraction",
                                value=fraction)
        return plan_atomic_close_morpho(self, out_asset=out_asset, premium_bps=premium_bps, depth=depth,
                                        limits=limits)


__all__ = ["MorphoLoanModel"]
