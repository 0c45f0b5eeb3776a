"""Morpho Blue value types: market parameters and a position snapshot read at one block.

Units: token amounts are integers in the token's smallest unit (``_wei``); ``oracle_price`` is
``IOracle.price()`` (collateral in loan units, scaled ``1e36 + dL - dC``); rates are per second, WAD.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from manager.domain import Frozen
from manager.sizing import morpho as mm

if TYPE_CHECKING:
    from manager.sizing.loan import MorphoLoanModel


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


class MorphoPositionSnapshot(Frozen):
    """One account's position in one Morpho Blue market, with the market and oracle, read at one block.

    ``market`` holds the **stored** totals (``Morpho.market(id)``) plus ``IOracle.price()``;
    ``last_update`` / ``fee_wad`` / ``borrow_rate_per_s_wad`` (``IIrm.borrowRateView`` on the stored
    market) give the totals at any later timestamp exactly (``market_at``). Health "now" is at
    ``block_timestamp`` (what ``MorphoBalancesLib.expectedMarketBalances`` returns at this block).
    """

    name: str = ""
    protocol: Literal["morpho_blue"] = "morpho_blue"
    morpho: str
    account: str
    block_number: int
    block_timestamp: int
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
    oracle_fresh: bool = True
    oracle_issues: tuple[str, ...] = ()

    # ---- exact views ---------------------------------------------------------------------------
    def loan_model(self) -> MorphoLoanModel:
        """How this position's collateral and debt enter its health (``manager.sizing.loan``): Morpho Blue's shares
        math on the market accrued to this block, for the one deleverage/boost solver (``manager.sizing.solver``)."""
        from manager.sizing.loan import MorphoLoanModel

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
            return f.answer / 10**f.decimals
        loan = self.loan_price_usd
        if loan is None:
            return None
        return self.market.oracle_price / 10 ** (36 + self.loan_decimals - self.collateral_decimals) * loan

    @property
    def has_debt(self) -> bool:
        return self.position.borrow_shares > 0

    def liquidation_price_loan(self) -> float | None:
        """Collateral price (loan tokens per collateral token) at which HF = 1; None without debt."""
        p = mm.liquidation_price(self.market_now, self.position)
        return None if p is None or math.isinf(p) else p
