"""Execution value types: unsigned steps, plans, prepared (signed) transactions and outcomes.

A ``TxStep`` is one generic contract call (to, data, value) with the metadata policy needs (selector,
USD value, swap bounds, approval amount). Protocol encoders (``manager.protocols.*.encode``) build
them; only ``manager.execution.executor`` signs and sends them.

A ``Plan`` is an ordered tuple of steps plus preconditions. Steps are plain calls, so a future
flash-loan path adds one ``TxStep`` whose calldata wraps the others (``kind="flash_loan"``,
``inner`` = the wrapped steps for policy checks) without reshaping plans.

Every model is a frozen pydantic value: hashable, loggable, and never holding key material.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from manager.domain import Frozen

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

StepCallKind = Literal[
    "approve",
    "transfer",
    "supply",
    "withdraw",
    "borrow",
    "repay",
    "repay_with_a_tokens",
    "set_collateral",
    "swap",
    "flash_loan",
    "call",
]


def _check_hex(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{what} must be 0x-prefixed hex")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise ValueError(f"{what} is not valid hex") from None
    return value.lower()


class SwapBounds(Frozen):
    """The oracle-derived bounds of a swap step (what policy checks slippage against).

    ``exact_in``: ``amount_in_wei`` is spent, at least ``min_amount_out_wei`` must come out, and
    ``oracle_amount_out_wei`` is the output at the oracle price (no fee, no impact).
    ``exact_out``: ``amount_out_wei`` must come out, at most ``max_amount_in_wei`` may be spent, and
    ``oracle_amount_in_wei`` is the input at the oracle price.
    """

    mode: Literal["exact_in", "exact_out"]
    token_in: str
    token_out: str
    amount_in_wei: int | None = None
    min_amount_out_wei: int | None = None
    oracle_amount_out_wei: int | None = None
    amount_out_wei: int | None = None
    max_amount_in_wei: int | None = None
    oracle_amount_in_wei: int | None = None
    slippage_bps: int = Field(ge=0, le=10_000)
    deadline_unix_s: int

    @model_validator(mode="after")
    def _complete(self) -> SwapBounds:
        need = (
            ("amount_in_wei", "min_amount_out_wei", "oracle_amount_out_wei")
            if self.mode == "exact_in"
            else ("amount_out_wei", "max_amount_in_wei", "oracle_amount_in_wei")
        )
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"{self.mode} swap bounds need {', '.join(missing)}")
        return self

    def within_slippage(self, max_slippage_bps: int) -> bool:
        """True when the bounds accept no worse than ``max_slippage_bps`` from the oracle amount.

        Integer check with a 1-wei tolerance for the encoder's rounding (floor for min out, ceil for
        max in): ``min_out * 1e4 >= oracle_out * (1e4 - max) - 1e4`` / ``max_in * 1e4 <= oracle_in *
        (1e4 + max) + 1e4``. The stated ``slippage_bps`` must also be within ``max``.
        """
        if self.slippage_bps > max_slippage_bps:
            return False
        if self.mode == "exact_in":
            oracle_out, min_out = self.oracle_amount_out_wei or 0, self.min_amount_out_wei or 0
            return oracle_out > 0 and min_out > 0 and min_out * 10_000 >= oracle_out * (10_000 - max_slippage_bps) - 10_000
        oracle_in, max_in = self.oracle_amount_in_wei or 0, self.max_amount_in_wei or 0
        return oracle_in > 0 and max_in * 10_000 <= oracle_in * (10_000 + max_slippage_bps) + 10_000

    def implied_slippage_bps(self) -> float:
        """The worst price this step accepts, as bps away from the oracle price (recomputed, not trusted)."""
        if self.mode == "exact_in":
            oracle = self.oracle_amount_out_wei or 0
            if oracle <= 0:
                return float("inf")
            return (oracle - (self.min_amount_out_wei or 0)) * 10_000 / oracle
        oracle_in = self.oracle_amount_in_wei or 0
        if oracle_in <= 0:
            return float("inf")
        return ((self.max_amount_in_wei or 0) - oracle_in) * 10_000 / oracle_in


class TxStep(Frozen):
    """One unsigned contract call. ``data`` is the full calldata (selector + ABI-encoded args)."""

    to: str
    data: str = "0x"
    value_wei: int = Field(default=0, ge=0)
    label: str
    kind: StepCallKind = "call"
    usd_value: float = Field(default=0.0, ge=0.0)
    gas_hint: int | None = Field(default=None, gt=0)
    token: str | None = None  # the token this step moves (approve/supply/repay...), for the record
    amount_wei: int | None = None
    approval_amount_wei: int | None = None  # approve only: the exact allowance set
    spender: str | None = None  # approve only
    swap: SwapBounds | None = None
    inner: tuple[TxStep, ...] = ()  # flash_loan only: the calls executed inside the callback

    @field_validator("to")
    @classmethod
    def _address(cls, value: str) -> str:
        _check_hex(value, "to")
        if len(value) != 42:
            raise ValueError("to must be a 20-byte address")
        from eth_utils import to_checksum_address

        return to_checksum_address(value)

    @field_validator("data")
    @classmethod
    def _data(cls, value: str) -> str:
        return _check_hex(value, "data")

    @property
    def selector(self) -> str:
        """The 4-byte function selector (``0x`` + 8 hex digits), or ``0x`` for a plain transfer."""
        return self.data[:10] if len(self.data) >= 10 else "0x"

    def describe(self) -> str:
        """A short one-line description (no calldata)."""
        return f"{self.label} -> {self.to} {self.selector}"


class Preconditions(Frozen):
    """What must hold for a plan to be sent (checked before simulation and again before each step).

    ``max_block_age_blocks``: the plan is refused when the head is more than this many blocks past the
    block the decision was made at. ``valid_until_block``: no step is signed after this block.
    ``min_post_health`` / ``target_band``: the health the fork replay must land on (all steps applied).
    """

    max_block_age_blocks: int = Field(default=5, ge=0)
    valid_until_block: int | None = None
    min_post_health: float | None = Field(default=None, gt=0)
    target_band: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _band(self) -> Preconditions:
        if self.target_band is not None:
            lo, hi = self.target_band
            if not 0 < lo <= hi:
                raise ValueError(f"target_band {self.target_band} must be 0 < low <= high")
        return self

    @property
    def needs_post_check(self) -> bool:
        return self.min_post_health is not None or self.target_band is not None


class Plan(Frozen):
    """An ordered list of unsigned steps that carries out one sizing decision.

    ``plan_id`` is derived from the decision and its block (``derive_plan_id``): the same decision at
    the same block is the same plan, so resubmission after a crash finds it instead of sending again.
    """

    plan_id: str
    position: str
    kind: str = "none"  # the decision's action (deleverage, repay_from_wallet...)
    account: str  # the sender (must equal the signer's address)
    block_number: int = Field(ge=0)  # the block the decision was made at
    steps: tuple[TxStep, ...]
    preconditions: Preconditions = Field(default_factory=Preconditions)
    notional_usd: float = Field(default=0.0, ge=0.0)  # counted once against the daily cap
    expected_loss_avoided_usd: float | None = Field(default=None, ge=0.0)  # for the fee budget
    health_before: float | None = None

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        from eth_utils import to_checksum_address

        return to_checksum_address(value)

    @model_validator(mode="after")
    def _nonempty(self) -> Plan:
        if not self.steps:
            raise ValueError("a plan needs at least one step")
        return self

    def daily_usd(self) -> float:
        """What this plan counts against the daily cap: its notional, or its largest step if unset."""
        return self.notional_usd or max((s.usd_value for s in self.steps), default=0.0)


class FeeQuote(Frozen):
    """EIP-1559 fee fields for one transaction and why they are what they are."""

    max_fee_per_gas_wei: int = Field(ge=0)
    max_priority_fee_per_gas_wei: int = Field(ge=0)
    base_fee_wei: int = Field(ge=0)
    urgency: str
    capped_by: str = "none"  # none | max_fee | max_priority_fee | hard_clamp

    @property
    def includable(self) -> bool:
        return self.max_fee_per_gas_wei >= self.base_fee_wei


class PreparedTx(Frozen):
    """A signed transaction of one plan step (what is stored before broadcast; never a key)."""

    plan_id: str
    step_index: int
    label: str
    sender: str
    to: str
    data: str
    value_wei: int
    nonce: int
    gas_limit: int
    max_fee_per_gas_wei: int
    max_priority_fee_per_gas_wei: int
    chain_id: int
    tx_hash: str
    raw_tx_hex: str = Field(repr=False)


class StepOutcome(Frozen):
    """What happened to one step: ``included`` | ``reverted`` | ``dropped`` | ``not_included`` | ``dry_run``."""

    step_index: int
    label: str
    status: str
    tx_hash: str | None = None
    nonce: int | None = None
    block_number: int | None = None
    gas_used: int | None = None
    replacements: int = 0


class ExecutionResult(Frozen):
    """The result of ``Executor.execute``: final plan status, step outcomes, what dry-run would send."""

    plan_id: str
    status: str  # confirmed | reverted | failed | refused | dry_run | submitted (still pending)
    reason: str = ""
    steps: tuple[StepOutcome, ...] = ()
    would_send: tuple[PreparedTx, ...] = ()
    post_health: float | None = None
    already_known: bool = False  # the plan id was stored before: nothing new was sent
