"""The protocol adapter interface: everything the pipeline needs from a protocol, behind one class.

A protocol is one folder ``manager/protocols/<kind>/`` with an ``adapter.py`` whose adapter class derives from
``LendingAdapter`` (a loan: collateral and debt, health 1.0 = liquidatable), ``PerpAdapter`` (a margin
position) or ``VenueAdapter`` (a swap venue: quotes, depth, swap encoding), and is listed in
``manager.protocols.registry``. The config's protocol union, the tick reader, health views, status, the
planner, fees and the start-up wiring loop over the registry; none of them names a protocol.

This module only fixes the shape; each method's contract is in its docstring. Import-light: no web3 at import
(adapters import their I/O modules inside methods), so the pure core may use the registry for dispatch.

Two sections per class, kept apart so that two branches can fill them independently:

- **wiring** (this file's methods below): the config model, the contracts to verify at start, the start-up
  wiring of a managed position (plan context, post-state health check, allow-list), planning (unsigned steps
  of a decision, the atomic path's debt / target / leg prices), fees (liquidation loss), ``posman init`` and
  ``posman executor``;
- **reads**: the position read plans of one tick (``read_plan``: calls and their decoding, run batched with every
  other adapter's by ``manager.chain.batch.run_plans``), the atomic path's reads, status rows and, for a venue,
  the oracle check's DEX prices and the depth curves. Health views and oracle symbols are methods of the
  snapshot itself (``manager.domain.PositionSnapshot``).

Errors: a method that cannot do what is asked for *this* position raises a ``manager.errors`` error (planning:
``manager.execution.planner.UnplannableDecision``; start-up: ``ConfigError`` via ``cfg.error``); a method a
protocol does not support raises ``NotSupported`` (a one-line "<kind> does not <what>").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from manager.errors import NeverSubmitError

Family = Literal["lending", "perp", "venue"]
Calls = dict[str, set[str]]  # contract address -> allowed 4-byte selectors ("0x" + 8 hex)
PostCheck = Callable[[Any], float]  # web3 of the (fork) node -> the position's health after the plan


class NotSupported(NeverSubmitError):
    """The protocol does not offer what was asked (e.g. an executor grant on a perp market)."""


class NoPool(Exception):
    """A venue has no pool for a pair at a fee tier (``VenueAdapter.pool_curve``): that venue is skipped."""


# ------------------------------------------------------------------------------------------------------------
# value types of the interface
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallCheck:
    """One read-only call a configured contract must answer at start (``manager.chain.verify``).

    ``answers``: ``"any"`` (32 bytes or more), ``"address"`` (an address that has code) or ``"field"`` (the
    address configured in ``equals_field`` of the same entry). ``args``: ABI-encoded arguments.
    """

    signature: str
    answers: Literal["any", "address", "field"] = "any"
    equals_field: str | None = None
    args: bytes = b""


@dataclass(frozen=True)
class ContractCheck:
    """A contract field of a ``[[protocols]]`` entry, what it must be (for the error line) and its calls."""

    field: str
    what: str
    calls: tuple[CallCheck, ...] = ()


@dataclass(frozen=True)
class VenueWiring:
    """The swap venue a lending position on a chain swaps through, resolved once at start-up."""

    kind: str  # the venue adapter's kind
    proto: Any  # its ``[[protocols]]`` entry
    router: str
    router_kind: str
    fees_pips: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (symbol in, symbol out) -> fee


@dataclass
class WiringEnv:
    """What the start-up wiring gives an adapter for one managed position.

    ``client``: the connected ``ChainClient`` of the position's chain (already verified); ``venue``: the chain's
    swap venue (``None`` for protocols that need none); ``atomic``: the signer's ``AtomicSetup`` (or ``None``);
    ``cache``: one dict shared by every position of this start (memoize chain lookups in it, keyed by kind).
    """

    cfg: Any
    client: Any
    index: int  # the position's index in ``cfg.positions`` (for ``cfg.error`` locations)
    venue: VenueWiring | None = None
    atomic: Any = None
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def max_slippage_bps(self) -> int:
        return int(self.cfg.limits.max_slippage_bps)


@dataclass(frozen=True)
class PositionWiring:
    """What a managed position gets at start-up: its plan context, post-state check and allow-list part."""

    plan_context: Any
    post_check: PostCheck
    allowed_calls: Calls


@dataclass(frozen=True)
class AtomicDebt:
    """The debt an atomic (flash-loan) action of a position would flash: the asset, its amount and USD value."""

    asset: str
    amount_wei: int
    usd: float


@dataclass(frozen=True)
class InitPart:
    """What ``posman init`` writes for one protocol: config lines, and the protocol names positions go on."""

    lines: list[str]
    position_protocols: list[tuple[str, str]] = field(default_factory=list)  # (protocol name, position suffix)


# ------------------------------------------------------------------------------------------------------------
# the adapters
# ------------------------------------------------------------------------------------------------------------
class ProtocolAdapter(ABC):
    """Base of every adapter. ``kind`` is the config's ``kind`` string; ``family`` what it is.

    Methods marked ``@abstractmethod`` must be implemented (an adapter missing one cannot be instantiated: the
    registry's lookup fails naming them); the others have a default that says "not offered"."""

    kind: ClassVar[str]
    family: ClassVar[Family]
    # the pydantic model of the protocol's ``[[protocols]]`` entry (``kind: Literal[<kind>]``)
    config_model: ClassVar[type[Any]]
    # the snapshot type of its positions (a ``manager.domain.PositionSnapshot`` subclass); None for venues
    snapshot_type: ClassVar[type[Any] | None] = None
    # the built-in strategies that can manage a position on it
    strategies: ClassVar[frozenset[str]] = frozenset()
    # a human name for messages ("Aave V3")
    title: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind}>"

    # -------------------------------------------------------------------------------------------- wiring
    def revert_reason(self, text: str) -> str | None:
        """A simulation's ``Error(string)`` revert named by this protocol (e.g. Aave's numeric codes), or None."""
        return None

    def custom_error(self, selector_hex: str, body: bytes) -> str | None:
        """A custom-error revert (4-byte selector, 8 hex digits; ABI-encoded arguments) named by this protocol's
        contracts, or None."""
        return None

    def contract_checks(self) -> Sequence[ContractCheck]:
        """The contract fields of an entry and the calls each must answer at start (``chain.verify``).
        Default: none."""
        return ()

    def init_markets(self, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``posman init``: the markets of this protocol the address table lists for a chain (``entry``: one
        chain of ``manager/data/addresses.json``), each a dict with at least ``"market"`` (its name); those the
        user picks (``--market``) get a ``[[protocols]]`` entry and one watched position per account.
        Default: none (nothing to pick)."""
        return []

    def init_market(self, market: Mapping[str, Any], chain: str) -> InitPart:
        """``posman init``: the ``[[protocols]]`` lines of one picked market (from ``init_markets``)."""
        raise NotSupported(f"{self.kind} has no markets for posman init")

    # contract fields without which ``posman init`` cannot read positions (a dead one stops its read check)
    read_required_fields: ClassVar[tuple[str, ...]] = ()

    def init_multicall(self, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        """``posman init``: a multicall this protocol's deployment provides on a chain without Multicall3:
        ``(address, the comment line saying what it is)``; None: none."""
        return None

    def init_lines(self, entry: Mapping[str, Any], chain: str) -> list[str]:
        """``posman init``: lines written for this protocol whatever the markets picked (a venue's entry, a
        commented-out template). Default: none."""
        return []


class ManagedAdapter(ProtocolAdapter):
    """What lending and perp adapters share: managed positions are wired, planned and allow-listed."""

    # a managed position on it swaps (a lending deleverage sells collateral): the chain needs a venue
    needs_venue: ClassVar[bool] = False

    @abstractmethod
    def wire_position(self, env: WiringEnv, pos: Any, proto: Any) -> PositionWiring:
        """Start-up wiring of one managed position ``pos`` on entry ``proto``: its plan context (what
        ``build_steps`` needs besides the decision and the snapshot), the post-state health check of the fork
        replay, and the (contract -> selectors) calls its plans need. Reads the chain through ``env.client``
        (memoized in ``env.cache``); refusals are ``env.cfg.error`` lines."""
        raise NotImplementedError

    @abstractmethod
    def allowed_calls(self, env: WiringEnv, proto: Any) -> Calls:
        """The (contract -> selectors) allow-list a managed position on ``proto`` needs (what ``posman
        allowlist`` prints; the same as ``wire_position(...).allowed_calls``). ``env.venue`` may be None: then
        the protocol's own calls only (a lending protocol without a venue allows nothing: it cannot act)."""
        raise NotImplementedError

    @abstractmethod
    def action_selectors(self) -> set[str]:
        """Every selector this protocol's plans may call, whatever the addresses (``[limits] allowed_contracts``
        get the union over the registry)."""
        raise NotImplementedError

    def write_functions(self) -> tuple[str, ...]:
        """The signatures (``name(types)``) of every function its plans may call (``posman allowlist``'s names)."""
        return ()

    @abstractmethod
    def post_health_reader(self, chain_cfg: Any, proto: Any, account: str) -> PostCheck:
        """A ``post_check``: ``read(w3)`` -> the health of ``account``'s position on ``proto`` as the node ``w3``
        talks to sees it at its latest block (1.0 = liquidatable; ``inf`` without debt)."""
        raise NotImplementedError

    @abstractmethod
    def build_steps(self, decision: Any, snapshot: Any, ctx: Any) -> tuple[Any, ...]:
        """The unsigned ``TxStep`` calls that carry out ``decision`` (a direct-path ``SizingDecision``) on
        ``snapshot`` with the plan context ``ctx`` from ``wire_position``, in order. Raises
        ``UnplannableDecision`` (one line) when it cannot; never returns an empty tuple."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------- reads
    @abstractmethod
    def read_plan(self, proto: Any, positions: Sequence[Any], ctx: Any) -> Any:
        """The ``manager.chain.batch.ReadPlan`` of one tick for the positions (``reading.PositionRequest``) on
        entry ``proto``, at ``ctx.block_number`` (``reading.ReadContext``): it yields rounds of calls and returns
        a ``reading.ProtocolRead`` (snapshots by position name, per-position errors, wallets of managed
        positions, the oracle feeds the positions depend on, token symbols, and the entry's own state). A
        position whose reads fail is an error of that position only."""
        raise NotImplementedError

    @abstractmethod
    def check_contracts(self, client: Any, proto: Any, block: int) -> None:
        """Once per entry: its contracts exist at ``block`` (a clear ``ConfigError`` naming the field if not)."""
        raise NotImplementedError

    @abstractmethod
    def status_row(self, snap: Any) -> dict[str, Any]:
        """``posman status``'s row of one snapshot: the stable fields (``manager.status.FIELDS``) + its own."""
        raise NotImplementedError

    def price_usd(self, client: Any, proto: Any, symbol: str, block: int) -> float | None:
        """The protocol oracle's USD price of ``symbol`` at ``block`` (``posman history``'s native-token cost);
        None when it has none."""
        return None


class LendingAdapter(ManagedAdapter):
    family: ClassVar[Family] = "lending"
    needs_venue: ClassVar[bool] = True
    # the ``FlashSource.kind`` of the flash loans it offers the executor contract (``manager.atomic.encode``)
    flash_kind: ClassVar[str | None] = None
    # the contract's ``Protocol`` enum value of ``PosmanExecutor`` (``manager.atomic.encode``); None: no atomic path
    executor_protocol_id: ClassVar[int | None] = None
    # the executor's ``LendingTarget`` of a position carries the market's ``MarketParams`` (isolated markets)
    executor_target_has_market: ClassVar[bool] = False
    # a collateral switch (issue 16) runs on this protocol's positions (its pool flash-lends the new collateral)
    supports_collateral_switch: ClassVar[bool] = False

    # ------------------------------------------------------------------ atomic path
    def flash_lender(self, env: WiringEnv, proto: Any) -> tuple[str, str] | None:
        """The flash lender an entry of this protocol on the position's chain offers the executor contract:
        ``(FlashSource kind, lender address)`` (``manager.atomic.encode.FLASH_KINDS``), or None."""
        return None

    def flash_option(self, w3: Any, lender: str, asset: str, block: int | str = "latest") -> Any:
        """The ``manager.atomic.reads.FlashOption`` of ``lender`` (this protocol's flash lender) for ``asset`` at
        ``block``: its ``FlashSource`` (premium read, never assumed), liquidity and whether it is usable now."""
        raise NotSupported(f"{self.kind} offers no flash loan")

    def atomic_debt(self, snapshot: Any, reads: Any) -> AtomicDebt | str:
        """For ``planner.choose_path``: the debt an atomic action would flash (the largest debt by value), or a
        reason (str, "no debt", a grant the executor lacks in ``reads``: ``AtomicReads``) to take the direct
        path."""
        return f"the atomic path does not cover {self.kind} positions"

    def atomic_target(self, snapshot: Any, ctx: Any) -> Any:
        """The executor contract's ``LendingTarget`` of ``snapshot``'s position (``manager.atomic.encode``)."""
        raise NotSupported(f"the executor contract has no {self.kind} target")

    @abstractmethod
    def leg_price(self, snapshot: Any, asset: str) -> tuple[int, int]:
        """``(price in a base common to the position's assets, decimals)`` of ``asset``: the oracle amount of a
        swap leg is ``amount * p_in / p_out`` rescaled by the decimals (``oracle_amount_out_wei``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fees
    def liquidation_loss_usd(self, snapshot: Any) -> float | None:
        """USD the position would lose to its worst single liquidation under the protocol's exact rules (the
        fee budget weighs gas against it); None: not evaluated (the bonus estimate is used)."""
        return None

    def debt_and_bonus(self, snapshot: Any) -> tuple[float, int] | None:
        """``(debt in USD, liquidation bonus in bps)`` for the fee budget's estimate; None: unknown."""
        return None

    # ------------------------------------------------------------------ posman executor
    def executor_grant_calls(self, executor: str, reserves: Mapping[str, Any], grants: Any) -> list[Any]:
        """The unsigned steps that set this protocol's part of ``grants`` (``manager.atomic.grants.GrantSet``)
        for the (checksummed) ``executor``; ``reserves``: ``executor_reserves``' answer when it has any."""
        return []

    def executor_revoke_calls(self, executor: str, lenders: Sequence[str]) -> list[Any]:
        """Steps revoking what is not amount-scoped (``lenders``: the contracts to deauthorize the executor on);
        amount grants are revoked by ``executor_grant_calls`` with zero amounts."""
        return []

    def executor_reserves(self, w3: Any, pool: str, block: int | str = "latest") -> dict[str, Any]:
        """``{symbol: tokens}`` of a pool whose grants are per reserve; ``NotSupported`` when they are not."""
        raise NotSupported(f"{self.kind} has no per-reserve executor grants")

    def read_executor_grants(self, w3: Any, owner: str, executor: str, *, reserves: Mapping[str, Any],
                             lenders: Sequence[str], block: int | str = "latest") -> dict[str, Any]:
        """What ``owner`` has granted ``executor`` now on this protocol (JSON-able), from ``reserves`` /
        ``lenders`` as ``read_grants`` was given them."""
        return {}

    def executor_grant_steps(self, w3: Any, proto: Any, pos: Any, signer_cfg: Any, *,
                             withdraw_caps: Sequence[str] = (), borrow_caps: Sequence[str] = ()) -> list[Any]:
        """``posman executor grant``: the unsigned steps that give ``signer_cfg.executor`` what managing ``pos``
        needs (``withdraw_caps`` / ``borrow_caps``: ``SYM=TOKENS`` overrides); [] when already granted."""
        raise NotSupported(f"the executor contract serves no {self.kind} position")

    def executor_revoke_steps(self, w3: Any, proto: Any, signer_cfg: Any) -> list[Any]:
        """``posman executor revoke``: the steps that take every grant back; [] when none is left."""
        raise NotSupported(f"the executor contract serves no {self.kind} position")

    def executor_grants_doc(self, w3: Any, proto: Any, signer_cfg: Any) -> dict[str, Any]:
        """``posman executor show``: the grants as a JSON-able dict (merged into the position's document)."""
        raise NotSupported(f"the executor contract serves no {self.kind} position")

    def print_executor_grants(self, doc: Mapping[str, Any]) -> list[str]:
        """The lines ``posman executor show`` prints for ``executor_grants_doc``'s document."""
        return []


    def atomic_plan(self, proto: Any, state: Any, wanted: Sequence[Any]) -> Any:
        """The ``ReadPlan`` of the atomic path's reads at the tick's block for the positions in ``wanted``
        (``reading.AtomicWanted``) when this entry is a flash lender or holds them: returns position name ->
        ``AtomicReads`` fields. Default: nothing to read."""
        def plan() -> Any:
            return {}
            yield  # pragma: no cover - makes this a generator

        return plan()


class PerpAdapter(ManagedAdapter):
    family: ClassVar[Family] = "perp"


class VenueAdapter(ProtocolAdapter):
    """A swap venue: lending positions on its chain swap through its router (and the tick reads its depth)."""

    family: ClassVar[Family] = "venue"

    @abstractmethod
    def router_of(self, proto: Any) -> str:
        """The router address of a venue entry."""
        raise NotImplementedError

    @abstractmethod
    def router_kind(self, cfg: Any, proto: Any, client: Any) -> str:
        """Which router ``proto``'s router is (detected on chain at start-up, checked against the config);
        a refusal is one ``cfg.error`` line."""
        raise NotImplementedError

    @abstractmethod
    def describe_router(self, client: Any, proto: Any, block: int) -> str:
        """``posman init``'s check: "<router kind>: <title>" of the entry's router (``PosmanError`` if it is none)."""
        raise NotImplementedError

    @abstractmethod
    def swap_selectors(self, router_kind: str) -> set[str]:
        """The router selectors a direct swap of this router kind calls (the allow-list's part on the router)."""
        raise NotImplementedError

    def swap_functions(self) -> tuple[str, ...]:
        """The signatures of the router functions a direct swap calls (``posman allowlist``'s names)."""
        return ()

    @abstractmethod
    def swap_codec(self) -> Any:
        """The router calldata codec the policy and the executor encoder use (for Uniswap V3,
        ``manager.protocols.uniswap_v3.router``: ``SWAP_SELECTORS``, ``decode_path_swap``, ``unwrap_deadline``,
        ``encode_inner_swap``, ...)."""
        raise NotImplementedError

    @abstractmethod
    def swap_encoder(self) -> Any:
        """The swap step encoder (for Uniswap V3, ``manager.protocols.uniswap_v3.encode``: ``exact_input``,
        ``oracle_amount_out_wei``)."""
        raise NotImplementedError

    @abstractmethod
    def find_pools(self, client: Any, factory: str, pairs: set[tuple[str, str, str, str]],
                   block: int) -> dict[tuple[str, str], int]:
        """``posman init``: for every (token_in, token_out, symbol_in, symbol_out), the fee (pips) of the pool
        with the most in-range liquidity at ``block``; pairs without a pool are left out."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------- reads
    @abstractmethod
    def pool_lookup_calls(self, proto: Any, pairs: Sequence[tuple[str, str, int]]) -> list[Any]:
        """One ``Call`` per (token a, token b, fee) whose result is the pool's address (zero: none)."""
        raise NotImplementedError

    @abstractmethod
    def pool_price_calls(self, pool: str, twap_window_s: int) -> list[Any]:
        """The calls whose results ``pool_usd_prices`` needs for ``pool``."""
        raise NotImplementedError

    @abstractmethod
    def pool_usd_prices(self, pool: str, results: Sequence[Any], twap_window_s: int, token: str, decimals: int,
                        other_decimals: int, other_usd: float) -> tuple[float, float | None] | None:
        """(spot, TWAP or None) USD price of ``token`` implied by ``pool`` and the other token's USD price; None
        when the pool could not be read (the oracle check then has no DEX price for it)."""
        raise NotImplementedError

    @abstractmethod
    def pool_curve(self, client: Any, proto: Any, token_in: str, token_out: str, fee_pips: int, block: int,
                   k_bps: Sequence[int]) -> Any:
        """The exact ``DepthCurve`` selling ``token_in`` for ``token_out`` in the ``fee_pips`` pool at ``block``
        (the pool's own math); raises ``NoPool`` when there is none."""
        raise NotImplementedError

    @abstractmethod
    def pool_curve_plan(self, proto: Any, token_in: str, token_out: str, fee_pips: int, block: int,
                        k_bps: Sequence[int]) -> Any:
        """``pool_curve`` as a read plan (``manager.chain.batch``: a generator yielding rounds of ``Call``,
        returning the same ``DepthCurve``), so the tick reader runs every pool's plan in ONE ``run_plans`` at
        ``block``. The plan raises ``NoPool`` (when there is no such pool; not a ``PosmanError``, the caller
        skips that venue) or a ``PosmanError`` (failed or inconsistent reads); ``pool_curve`` must equal
        ``run_plan`` of it."""
        raise NotImplementedError

    def can_quote_depth(self, proto: Any) -> bool:
        """Whether this entry can read pool depth at all (e.g. a TickLens is configured)."""
        return True


__all__ = ["AtomicDebt", "CallCheck", "Calls", "ContractCheck", "Family", "InitPart", "LendingAdapter",
           "ManagedAdapter", "NoPool", "NotSupported", "PerpAdapter", "PositionWiring", "PostCheck", "ProtocolAdapter",
           "VenueAdapter", "VenueWiring", "WiringEnv"]
