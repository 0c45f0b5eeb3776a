"""Stage-boundary types: what the watchers hand to the sizing core, what the core hands to the executor.

Conventions (see STYLE.md):
- On-chain amounts are ``int`` in the token's smallest unit (``_wei`` even for 6/8-decimal tokens).
- ``_base`` is the protocol's base currency unit (Aave: USD with 8 decimals, ``base_unit`` says which).
- ``_bps`` is basis points (1e4 = 100%); ``_wad`` is 1e18 fixed point; ``_ray`` is 1e27.
- Every snapshot carries the block it was read at.

All models are frozen pydantic values: they can be hashed, logged and compared, never mutated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WAD = 10**18
RAY = 10**27
BPS = 10**4
UINT256_MAX = 2**256 - 1


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=False)


# ------------------------------------------------------------------------------------------------
# Every position, whatever its protocol
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HealthView:
    """A protocol-neutral view of one position: one health number (1.0 = liquidatable, inf = nothing to
    liquidate), USD sizes and the oracle symbols it depends on (``PositionSnapshot.health_view``)."""

    protocol: str
    health: float
    health_factor_wad: int  # UINT256_MAX when there is nothing to liquidate
    collateral_usd: float
    debt_usd: float
    ltv_bps: int = 0
    liquidation_threshold_bps: int = 0
    symbols: frozenset[str] = frozenset()  # oracle symbols the position depends on
    oracle_fresh: bool = True
    oracle_issues: tuple[str, ...] = ()


def health_wad(health: float) -> int:
    """A float health as a WAD (``UINT256_MAX`` when infinite: nothing to liquidate)."""
    return UINT256_MAX if not math.isfinite(health) else max(0, int(health * WAD))


class PositionSnapshot(Frozen):
    """What every position has, whatever its protocol, read at one block.

    ``protocol`` is the protocol kind (the config's ``kind``; ``manager.protocols.registry.adapter_of`` finds
    its adapter); each protocol's snapshot type derives from this one and holds its own detail.
    ``oracle_fresh`` is False (with the reasons in ``oracle_issues``) when a price the position depends on
    (``oracle_symbols``) is stale or deviates from the DEX: nothing acts on it then.
    """

    name: str = ""
    protocol: str
    account: str
    block_number: int
    block_timestamp: int
    oracle_fresh: bool = True
    oracle_issues: tuple[str, ...] = ()

    def oracle_symbols(self) -> tuple[str, ...]:
        """The oracle symbols whose price the position's health depends on (in the position's own order)."""
        return ()

    def debt_tokens(self) -> tuple[str, ...]:
        """Token addresses the position owes (what a flash loan of its deleverage would borrow)."""
        return ()

    def token_info(self) -> dict[str, tuple[str, int]]:
        """Token address -> (symbol, decimals) of the tokens the snapshot knows (for display)."""
        return {}

    def health_view(self) -> HealthView:
        """The protocol-neutral ``HealthView`` (pure: computed from the snapshot alone)."""
        raise NotImplementedError(f"{type(self).__name__} has no health view")

    def with_oracle_issues(self, issues: tuple[str, ...]) -> PositionSnapshot:
        """A copy marked not fresh with ``issues`` added (itself when ``issues`` adds nothing)."""
        new = tuple(i for i in issues if i not in self.oracle_issues)
        if not new:
            return self
        return self.model_copy(update={"oracle_fresh": False, "oracle_issues": tuple(self.oracle_issues) + new})


# ------------------------------------------------------------------------------------------------
# Lending reserves (Aave V3 shaped; the Aave snapshot itself lives in its protocol folder)
# ------------------------------------------------------------------------------------------------
class EModeCategory(Frozen):
    """An Aave V3 efficiency-mode category (v3.0: ``Pool.getEModeCategoryData``)."""

    id: int
    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    price_source: str = "0x0000000000000000000000000000000000000000"
    label: str = ""
    # AaveOracle.getAssetPrice(price_source) at the snapshot's block, when price_source is set (v3.0
    # lets a category's price source override its assets' prices).
    price_source_price_base: int | None = None
    # v3.2+ liquid e-modes (``Pool.getEModeCategoryCollateralBitmap`` / ``BorrowableBitmap``, v3.6
    # ``LtvzeroBitmap``): bit i = reserve id i. None on v3.0/v3.1 (membership is the reserve's category).
    collateral_bitmap: int | None = None
    borrowable_bitmap: int | None = None
    ltvzero_bitmap: int | None = None


class ReserveState(Frozen):
    """One reserve's configuration and market state at ``block_number``.

    Mirrors ``ReserveConfiguration`` (bitmap fields) and ``ReserveData`` of aave-v3-core v3.0.
    ``price_base`` is ``AaveOracle.getAssetPrice(asset)`` (base currency, usually USD * 1e8).
    """

    asset: str
    symbol: str
    decimals: int
    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    reserve_factor_bps: int = 0
    liquidation_protocol_fee_bps: int = 0
    emode_category: int = 0
    active: bool = True
    frozen: bool = False
    paused: bool = False
    borrowing_enabled: bool = True
    stable_borrowing_enabled: bool = False
    borrowable_in_isolation: bool = False
    siloed_borrowing: bool = False
    supply_cap_tokens: int = 0  # whole tokens, 0 = no cap
    borrow_cap_tokens: int = 0  # whole tokens, 0 = no cap
    debt_ceiling_cents: int = 0  # USD with 2 decimals; 0 = not an isolated asset
    isolation_mode_total_debt_cents: int = 0
    price_base: int
    a_token: str = ""
    variable_debt_token: str = ""
    stable_debt_token: str = ""
    total_supply_wei: int = 0  # aToken totalSupply (incl. accrued)
    total_variable_debt_wei: int = 0
    total_stable_debt_wei: int = 0
    available_liquidity_wei: int = 0  # underlying held by the aToken (v3.6: Pool.getVirtualUnderlyingBalance)
    accrued_to_treasury_scaled: int = 0
    liquidity_index_ray: int = RAY
    variable_borrow_index_ray: int = RAY
    reserve_id: int = -1  # ``ReserveData.id``: the bit of the user configuration and of v3.2+ e-mode bitmaps
    deficit_wei: int = 0  # v3.3+ ``Pool.getReserveDeficit``: bad debt burned by liquidations, not yet covered


class PositionAsset(Frozen):
    """A user's balances in one reserve."""

    asset: str
    symbol: str
    collateral_wei: int = 0  # aToken balanceOf (includes accrued interest)
    variable_debt_wei: int = 0
    stable_debt_wei: int = 0
    collateral_enabled: bool = False  # UserConfiguration "usingAsCollateral" bit
    borrowing: bool = False  # UserConfiguration "borrowing" bit


class AccountData(Frozen):
    """``Pool.getUserAccountData`` shape (base currency units; HF is a WAD)."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold_bps: int
    ltv_bps: int
    health_factor_wad: int


# ------------------------------------------------------------------------------------------------
# Prices and pool depth
# ------------------------------------------------------------------------------------------------
class OracleReading(Frozen):
    """A Chainlink-style feed read at ``block_number``."""

    symbol: str
    feed: str
    answer: int
    decimals: int
    round_id: int
    updated_at: int
    block_number: int
    block_timestamp: int
    heartbeat_s: int
    age_s: int
    stale: bool
    dex_spot_price: float | None = None
    dex_twap_price: float | None = None
    deviation_bps: float | None = None
    deviating: bool = False
    issue: str | None = None  # why the source cannot be trusted, when not simply old (no latestRoundData...)


class QuotePoint(Frozen):
    amount_in_wei: int
    amount_out_wei: int


class DepthCurve(Frozen):
    """Exact swap outputs for increasing input sizes on one pool and direction (pool's own math).

    Used by the sizing core to value a sale including fee and price impact as a function of size.
    ``points`` are sorted by ``amount_in_wei`` and start above zero. ``mid_price`` is out per in
    (token units, decimals applied) at the pool's current sqrtPrice, before fees.
    """

    pool: str
    token_in: str
    token_out: str
    symbol_in: str = ""
    symbol_out: str = ""
    decimals_in: int
    decimals_out: int
    fee_pips: int
    block_number: int
    mid_price: float
    points: tuple[QuotePoint, ...]
    depth_at_bps: dict[int, int] = Field(default_factory=dict)  # k bps -> max amount_in_wei
    # A multi-hop route (``sizing.venues.compose_curves``): every token address from token_in to token_out and
    # the fee of each hop; empty = one hop through ``pool`` at ``fee_pips``.
    path: tuple[str, ...] = ()
    path_fees_pips: tuple[int, ...] = ()
    hops: tuple[DepthCurve, ...] = ()  # a route's one-hop curves, in order (to value it after other sales)

    @property
    def route(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """(tokens, fees) of the route: the path when set, else the one hop."""
        if self.path:
            return self.path, self.path_fees_pips
        return (self.token_in, self.token_out), (self.fee_pips,)


# ------------------------------------------------------------------------------------------------
# Decisions (sizing core output) - the executor turns these into plans
# ------------------------------------------------------------------------------------------------
ActionKind = Literal[
    "none",
    "deleverage",
    "boost",
    "repay_from_wallet",
    "add_collateral",
    "rebalance",
    "perp_add_margin",
    "perp_remove_margin",
    "perp_reduce",
    "perp_increase",
    "close",  # issue 16: the whole position closed in one executor call (close_on_price, trailing_stop)
    "collateral_switch",  # issue 16: collateral A -> B in one executor call
]

StepKind = Literal["withdraw", "supply", "borrow", "repay", "swap", "flash_loan", "transfer_margin", "modify_size"]


class SizingStep(Frozen):
    """One leg of a decision, in token units. The executor maps it 1:1 onto encoded calls."""

    kind: StepKind
    asset: str  # token address (swap: token_in)
    symbol: str = ""
    amount_wei: int  # > 0; direction is given by ``kind``
    asset_out: str | None = None  # swap only
    symbol_out: str | None = None
    min_amount_out_wei: int | None = None  # swap only: oracle-derived minimum out
    round: int = 0  # deleverage/boost loop round (0-based)
    projected_health: float | None = None  # health after this step
    # swap only, when the sizing core chose the venue (split / multi-hop): the route's token addresses
    # (token_in ... token_out) and the fee of each hop; empty = the planner's configured pool for the pair
    path: tuple[str, ...] = ()
    fees_pips: tuple[int, ...] = ()


class SizingDecision(Frozen):
    """What the sizing core decided for one position, and why. A value, never a side effect."""

    position: str
    action: ActionKind
    steps: tuple[SizingStep, ...] = ()
    deltas_wei: dict[str, int] = Field(default_factory=dict)  # symbol -> signed net change of the position
    health_before: float | None = None
    projected_health: float | None = None
    target_health: float | None = None
    binding_constraint: str = "none"
    reason: str = ""
    feasible: bool = True
    best_reachable_health: float | None = None
    notional_usd: float = 0.0
    block_number: int | None = None
    # Added by the sizing core (additive): split of ``deltas_wei`` into the two sides of the position,
    # so a token that is both collateral and debt is unambiguous. Signed, token units.
    collateral_deltas_wei: dict[str, int] = Field(default_factory=dict)
    debt_deltas_wei: dict[str, int] = Field(default_factory=dict)
    rounds: int = 0  # executable rounds in ``steps`` (each round: withdraw -> swap -> repay, or a flash loan)
    uses_flash_loan: bool = False
    # the largest action the pools allow within the max slippage now, short of the target: the next
    # block's decision carries on from fresh reads
    partial: bool = False
    # ``close`` only: the asset the owner's wallet ends in (address) and the least of it the executor must deliver
    close_out_asset: str | None = None
    close_min_out_wei: int = 0
    # ``collateral_switch`` only: the Aave flashLoanSimple premium it was sized with (the flash asset is the new
    # collateral, lent by the position's own Aave pool)
    flash_premium_bps: int | None = None


# ------------------------------------------------------------------------------------------------
# Atomic path reads (watchers -> planner): what the signer's executor contract may do at one block
# ------------------------------------------------------------------------------------------------
class AtomicReads(Frozen):
    """Flash liquidity and the executor's grants for one managed position, read at ``block_number``.

    Keys of the maps are lower-case token addresses. ``aave_premium_bps`` is the Aave Pool's
    ``FLASHLOAN_PREMIUM_TOTAL`` (None: no Aave market on the chain); ``aave_flash_enabled`` the reserve
    configuration's flash-loan bit (v3 ``ReserveConfiguration`` bit 63) and ``aave_available_wei`` the
    reserve's free liquidity (what ``flashLoanSimple`` can lend); ``morpho_balance_wei`` Morpho Blue's token
    balance (its fee-free ``flashLoan`` lends any of it). Grants: the aToken allowance owner -> executor per
    underlying (what ``transferFrom`` may pull), the variable-debt credit delegation per asset, and Morpho
    Blue ``isAuthorized(owner, executor)``.
    """

    executor: str
    block_number: int
    aave_pool: str | None = None
    aave_premium_bps: int | None = None
    aave_flash_enabled: dict[str, bool] = Field(default_factory=dict)
    aave_available_wei: dict[str, int] = Field(default_factory=dict)
    morpho: str | None = None
    morpho_balance_wei: dict[str, int] = Field(default_factory=dict)
    withdraw_allowance_wei: dict[str, int] = Field(default_factory=dict)
    borrow_allowance_wei: dict[str, int] = Field(default_factory=dict)
    morpho_authorized: bool | None = None
