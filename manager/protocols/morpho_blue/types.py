"""Morpho Blue value types: market parameters and a position snapshot read at one block.

Units: token amounts are integers in the token's smallest unit (``_wei``); ``oracle_price`` is
``IOracle.price()`` (collateral in loan units, scaled ``1e36 + dL - dC``); rates are per second, WAD.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from manager.domain import UINT256_MAX, WAD, Frozen, HealthView, PositionSnapshot
from manager.protocols.morpho_blue import math as mm

if TYPE_CHECKING:
    from manager.protocols.morpho_blue.loan import MorphoLoanModel


class MarketParams(Frozen):
    """``MarketParams`` of ``IMorpho.sol``."""

    loan_token: str
    collateral_token: str
    oracle: str
    irm: str
    lltv_wad: int = Field(gt=0, lt=10**18)

    def as_tuple(self) -> tuple[str, str, str, str, int]:
        return (self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv_wad)

    @property
    def id(self) -> str:
        """``MarketParamsLib.id``: ``keccak256(abi.encode(params))`` as 0x-hex."""
        from eth_abi import encode
        from eth_hash.auto import keccak

        return "0x" + keccak(encode(["address", "address", "address", "address", "uint256"],
                                    list(self.as_tuple()))).hex()


class FeedReading(Frozen):
    """A Chainlink-style feed behind the market's oracle (``latestRoundData``), for freshness and USD values."""

    feed: str
    answer: int
    decimals: int
    round_id: int
    updated_at: int
    age_s: int
    stale: bool


class MorphoPositionSnapshot(PositionSnapshot):
    """One account's position in one Morpho Blue market, with the market and oracle, read at one block.

    ``market`` holds the **stored** totals (``Morpho.market(id)``) plus ``IOracle.price()``;
    ``last_update`` / ``fee_wad`` / ``borrow_rate_per_s_wad`` (``IIrm.borrowRateView`` on the stored
    market) give the totals at any later timestamp exactly (``market_at``). Health "now" is at
    ``block_timestamp`` (what ``MorphoBalancesLib.expectedMarketBalances`` returns at this block).
    """

    protocol: Literal["morpho_blue"] = "morpho_blue"
    morpho: str
    market_id: str
    params: MarketParams
    loan_symbol: str = ""
    collateral_symbol: str = ""
    loan_decimals: int
    collateral_decimals: int
    market: mm.MorphoMarket
    last_update: int
    fee_wad: int = 0
    borrow_rate_per_s_wad: int = 0
    position: mm.MorphoPosition
    collateral_feed: FeedReading | None = None  # the oracle's BASE_FEED_1 (collateral/USD), when exposed
    loan_feed: FeedReading | None = None  # the oracle's QUOTE_FEED_1 (loan/USD), when exposed

    # ---- the protocol-neutral view ---------------------------------------------------------------
    def oracle_symbols(self) -> tuple[str, ...]:
        """The collateral and loan symbols (the oracle's feeds price them)."""
        return tuple(dict.fromkeys(s for s in (self.collateral_symbol, self.loan_symbol) if s))

    def debt_tokens(self) -> tuple[str, ...]:
        return (self.params.loan_token,)

    def token_info(self) -> dict[str, tuple[str, int]]:
        return {self.params.loan_token: (self.loan_symbol or "loan", self.loan_decimals),
                self.params.collateral_token: (self.collateral_symbol or "collateral", self.collateral_decimals)}

    def health_view(self) -> HealthView:
        """``maxBorrow / borrowed`` with interest accrued to the block (``Morpho._isHealthy``)."""
        m, p = self.market_now, self.position
        borrowed = mm.borrowed_assets(m, p)
        wad = UINT256_MAX if borrowed == 0 else mm.max_borrow(m, p) * WAD // borrowed
        hf = math.inf if borrowed == 0 else wad / WAD
        loan_usd = self.loan_price_usd or 0.0
        coll_px = self.collateral_price_usd or 0.0
        lltv_bps = self.params.lltv_wad * 10_000 // WAD
        return HealthView(self.protocol, hf, wad, p.collateral_wei / 10**self.collateral_decimals * coll_px,
                          borrowed / 10**self.loan_decimals * loan_usd, lltv_bps, lltv_bps, frozenset(self.oracle_symbols()),
                          self.oracle_fresh, tuple(self.oracle_issues))

    # ---- exact views ---------------------------------------------------------------------------
    def loan_model(self) -> MorphoLoanModel:
        """How this position's collateral and debt enter its health (``manager.sizing.loan``): Morpho Blue's shares
        math on the market accrued to this block, for the one deleverage/boost solver (``manager.sizing.solver``)."""
        from manager.protocols.morpho_blue.loan import MorphoLoanModel

        return MorphoLoanModel.of(self)

    def market_at(self, timestamp: int) -> mm.MorphoMarket:
        """The market's totals after ``_accrueInterest`` at ``timestamp`` (>= ``last_update``)."""
        return mm.accrue_interest(self.market, borrow_rate_per_s_wad=self.borrow_rate_per_s_wad,
                                  elapsed_s=timestamp - self.last_update, fee_wad=self.fee_wad)

    @property
    def market_now(self) -> mm.MorphoMarket:
        return self.market_at(self.block_timestamp)

    def borrowed_wei(self, timestamp: int | None = None) -> int:
        """Debt in loan-token units, rounded up from shares (``toAssetsUp``), accrued to ``timestamp``."""
        return mm.borrowed_assets(self.market_at(timestamp or self.block_timestamp), self.position)

    def is_healthy(self, timestamp: int | None = None) -> bool:
        """``Morpho._isHealthy`` after interest accrues to ``timestamp`` (default: this block)."""
        return mm.is_healthy(self.market_at(timestamp or self.block_timestamp), self.position)

    def health_factor(self, timestamp: int | None = None) -> float:
        return mm.health_factor(self.market_at(timestamp or self.block_timestamp), self.position)

    # ---- USD (from the oracle's feeds, when it exposes them) ------------------------------------
    @property
    def loan_price_usd(self) -> float | None:
        f = self.loan_feed
        return f.answer / 10**f.decimals if f is not None else None

    @property
    def collateral_price_usd(self) -> float | None:
        """Collateral USD: its own feed, else the Morpho oracle price times the loan USD price."""
        f = self.collateral_feed
        if f is not None:
            return float(f.answer / 10**f.decimals)
        loan = self.loan_price_usd
        if loan is None:
            return None
        return float(self.market.oracle_price / 10 ** (36 + self.loan_decimals - self.collateral_decimals) * loan)

    @property
    def has_debt(self) -> bool:
        return self.position.borrow_shares > 0

    def liquidation_price_loan(self) -> float | None:
        """Collateral price (loan tokens per collateral token) at which HF = 1; None without debt."""
        p = mm.liquidation_price(self.market_now, self.position)
        return None if p is None or math.isinf(p) else p
