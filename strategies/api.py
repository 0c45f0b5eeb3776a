"""The strategy interface (version 1): what a strategy module is, what it receives, what it returns.

A strategy is one module under ``strategies/`` that defines, at module level::

    INTERFACE_VERSION = 1                       # the version of this interface it was written for
    class Config(StrategyConfig): ...           # its parameters (the position's ``params`` table)
    def decide(config, snapshot, ctx) -> SizingDecision | None

``decide`` is pure: it receives a read-only position snapshot (one block; a lending snapshot hands out its loan
model, ``snapshot.loan_model()``: ``manager.sizing.loan``) and a ``StrategyContext`` (limits, pool depth, oracles,
its own recent history, its group's peers) and returns a ``SizingDecision`` (from the sizing core, for lending
positions ``manager.sizing.solver``) or ``None`` for "nothing to do". It never touches web3, the database, the
clock or the network, and never dispatches on the protocol; the runtime plans, simulates and sends what it decides.

Optionally a module defines ``group(config) -> str | None``: positions whose configs return the same
group name are decided together (the vault strategy uses it; ``ctx.peers`` then holds the others).

The runtime loads strategies by name (``load_strategy``), validates every position's ``params`` against
the strategy's ``Config`` (errors point at the config file line), and calls ``decide`` through
``call_decide``, which turns any crash into a ``StrategyError`` for that position only.

Mirrors the shape of freqtrade's ``IStrategy`` (``INTERFACE_VERSION``, a wrapper that turns strategy
crashes into one error type) and hummingbot's controller configs (a pydantic config per strategy file).
"""

from __future__ import annotations

import difflib
import importlib
import math
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType, ModuleType
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from manager.domain import DepthCurve, OracleReading, PositionSnapshot, SizingDecision
from manager.errors import ConfigError, SkipTickError
from manager.sizing.caps import SizingLimits
from manager.sizing.loan import LoanSnapshot

INTERFACE_VERSION = 1
PACKAGE = "strategies"
_NOT_STRATEGIES = frozenset({"api"})
# price automations (issue 16): listed under ``[[positions.automations]]`` next to a strategy
AUTOMATIONS = ("close_on_price", "trailing_stop", "price_trigger", "collateral_switch")


class StrategyError(SkipTickError):
    """A strategy crashed or returned something that is not a decision; this position skips the tick."""


class StrategyConfig(BaseModel):
    """Base of every strategy's ``Config``: strict, frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


@dataclass(frozen=True)
class PeerView:
    """Another position of the same group, as the strategy may see it (read-only)."""

    name: str
    snapshot: LoanSnapshot  # a lending snapshot (it hands out its loan model)
    config: StrategyConfig
    health: float
    collateral_usd: float
    debt_usd: float


@dataclass(frozen=True)
class StrategyContext:
    """Everything ``decide`` may use besides the snapshot. Values are immutable copies.

    - ``health``: the position's exact health factor at ``block_number`` (sizing core, inf without debt).
    - ``limits``: the sizing limits for this decision (caps, slippage, remaining daily budget).
    - ``depth``: pool depth curves by (token_in symbol, token_out symbol), read at the same block.
    - ``last_action_block`` / ``last_action_s``: when the runtime last sent an action for this position.
    - ``health_history``: the position's recent health factors, oldest first (this run of the manager).
    - ``price_history``: recent oracle prices (USD) per symbol, oldest first, one per tick.
    - ``peers``: the other positions of the same group (by name); empty unless the strategy groups.
    - ``flash_premium_bps`` / ``path_note``: the runtime's choice of execution path (``execution.planner.choose_path``):
      a premium when the atomic path is available, and why it is or is not.
    - ``wallet_wei``: for managed positions, the account's wallet balance of each reserve token (asset
      address -> wei) at ``block_number``; a strategy decides what of it may be spent.
    """

    position: str
    mode: Literal["watch", "manage"]
    block_number: int
    block_timestamp: int
    now_s: float
    health: float
    limits: SizingLimits = field(default_factory=SizingLimits)
    depth: Mapping[tuple[str, str], DepthCurve] = field(default_factory=dict)
    oracles: Mapping[str, OracleReading] = field(default_factory=dict)
    last_action_block: int | None = None
    last_action_s: float | None = None
    health_history: tuple[float, ...] = ()
    price_history: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    peers: Mapping[str, PeerView] = field(default_factory=dict)
    block_time_s: float = 12.0
    # the atomic path (one flash-loan transaction through the signer's executor contract) is offered with this
    # flash premium (0 = Morpho Blue); None = direct path only. ``path_note`` says which and why (for the reason).
    flash_premium_bps: int | None = None
    path_note: str = ""
    # the position's Aave pool flash premium (FLASHLOAN_PREMIUM_TOTAL, read at the block) when the executor may act:
    # a collateral switch flash-borrows the NEW collateral from that pool
    aave_flash_premium_bps: int | None = None
    wallet_wei: Mapping[str, int] = field(default_factory=dict)  # managed account's wallet: asset -> wei
    # (token_in symbol, token_out symbol) pairs with no pool to swap on (their depth read found none)
    no_route: frozenset[tuple[str, str]] = frozenset()
    # debt-token proceeds an interrupted plan of this position left in the wallet (token address lower -> wei)
    interrupted_proceeds_wei: Mapping[str, int] = field(default_factory=dict)
    # the health an interrupted plan of this position was to reach (None: nothing to finish)
    finish_to_health: float | None = None
    # the price automations' durable state (``[[positions.automations]]``), by automation key: e.g. a trailing
    # stop's peak oracle price and the round it was seen at (the runtime keeps it in the database)
    automation_state: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    automation_key: str = ""  # set while an automation decides: its key

    def __post_init__(self) -> None:
        # NOTE: copies behind read-only views, so a strategy cannot change what the runtime holds.
        for name in ("depth", "oracles", "price_history", "peers", "wallet_wei", "interrupted_proceeds_wei",
                     "automation_state"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


@dataclass(frozen=True)
class LoadedAutomation:
    """One price automation of a position (``[[positions.automations]]`` entry ``index``): its module and config.

    ``key`` names it in logs, status and the database (``id`` in the config, default ``<kind>-<index>``)."""

    key: str
    kind: str
    module: ModuleType
    config: StrategyConfig
    index: int = 0


@dataclass(frozen=True)
class LoadedStrategy:
    """A strategy module bound to one position's validated config (and its automations, run first)."""

    name: str
    module: ModuleType
    config: StrategyConfig
    automations: tuple[LoadedAutomation, ...] = ()

    @property
    def group(self) -> str | None:
        fn = getattr(self.module, "group", None)
        return fn(self.config) if fn is not None else None


def armed_automations(strategy: LoadedStrategy) -> list[LoadedAutomation]:
    """Every price automation of a position: its ``[[positions.automations]]`` and, when the strategy itself is one
    (``strategy = "trailing_stop"``...), the strategy (key = its name)."""
    out = list(strategy.automations)
    if strategy.name in AUTOMATIONS:
        out.insert(0, LoadedAutomation(key=strategy.name, kind=strategy.name, module=strategy.module,
                                       config=strategy.config, index=-1))
    return out


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------
def available_strategies() -> list[str]:
    """Names of the strategy modules in the ``strategies`` package."""
    package = importlib.import_module(PACKAGE)
    return sorted(
        m.name for m in pkgutil.iter_modules(package.__path__)
        if not m.name.startswith("_") and m.name not in _NOT_STRATEGIES
    )


def load_module(name: str) -> ModuleType:
    """Import ``strategies.<name>`` and check it implements this interface (else ``ConfigError``)."""
    known = available_strategies()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown strategy '{name}' (known: {', '.join(known)}){hint}", value=name)
    module = importlib.import_module(f"{PACKAGE}.{name}")
    version = getattr(module, "INTERFACE_VERSION", None)
    if version != INTERFACE_VERSION:
        raise ConfigError(f"strategy '{name}' implements interface version {version}, "
                          f"the runtime supports {INTERFACE_VERSION}", value=name)
    cfg = getattr(module, "Config", None)
    if not (isinstance(cfg, type) and issubclass(cfg, BaseModel)) or not callable(getattr(module, "decide", None)):
        raise ConfigError(f"strategy '{name}' must define a pydantic Config class and a decide() function",
                          value=name)
    return module


def load_strategy(cfg: Any, index: int) -> LoadedStrategy:
    """Load the strategy of ``cfg.positions[index]`` and validate its ``params``.

    ``cfg`` is a ``manager.config.Config``; errors are ``ConfigError`` pointing at the file line
    (the ``strategy`` key for an unknown name, the offending ``params`` key for a bad value).
    """
    from manager.config.loader import params_error

    pos = cfg.positions[index]
    try:
        module = load_module(pos.strategy)
    except ConfigError as exc:
        raise cfg.error(("positions", index, "strategy"), exc.message) from None
    try:
        config = module.Config.model_validate(dict(pos.params))
    except ValidationError as exc:
        raise params_error(cfg, ("positions", index, "params"), exc, model=module.Config) from None
    return LoadedStrategy(name=pos.strategy, module=module, config=config)


# ------------------------------------------------------------------------------------------------
# calling
# ------------------------------------------------------------------------------------------------
def call_decide(strategy: LoadedStrategy, snapshot: PositionSnapshot, ctx: StrategyContext) -> SizingDecision | None:
    """Run the position's automations (in order; the first that fires decides), then the strategy's ``decide``,
    and check the result; any crash becomes a ``StrategyError`` (skip this position)."""
    notes: list[str] = []
    for auto in strategy.automations:
        try:
            got = auto.module.decide(auto.config, snapshot, replace(ctx, automation_key=auto.key))
        except Exception as exc:  # NOTE: an automation bug must never stop the loop for other positions
            raise StrategyError(
                f"automation '{auto.key}' ({auto.kind}) failed for {ctx.position}: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())}", position=ctx.position, strategy=auto.kind) from exc
        if got is not None and not isinstance(got, SizingDecision):
            raise StrategyError(f"automation '{auto.key}' returned {type(got).__name__}, not a SizingDecision",
                                position=ctx.position, strategy=auto.kind)
        if got is not None and got.action != "none" and got.steps:
            return got.model_copy(update={"position": ctx.position, "reason": f"[{auto.key}] {got.reason}"})
        if got is not None and got.binding_constraint not in ("armed", "none"):
            notes.append(f"[{auto.key}] {got.reason}")
    out = _call_strategy(strategy, snapshot, ctx)
    if out is not None and notes:
        out = out.model_copy(update={"reason": f"{out.reason}; {'; '.join(notes)}"})
    return out


def _call_strategy(strategy: LoadedStrategy, snapshot: PositionSnapshot,
                   ctx: StrategyContext) -> SizingDecision | None:
    try:
        out = strategy.module.decide(strategy.config, snapshot, ctx)
    except Exception as exc:  # NOTE: a strategy bug must never stop the loop for other positions
        raise StrategyError(
            f"strategy '{strategy.name}' failed for {ctx.position}: {type(exc).__name__}: {' '.join(str(exc).split())}",
            position=ctx.position, strategy=strategy.name,
        ) from exc
    if out is not None and not isinstance(out, SizingDecision):
        raise StrategyError(f"strategy '{strategy.name}' returned {type(out).__name__}, not a SizingDecision",
                            position=ctx.position, strategy=strategy.name)
    if out is not None and out.position != ctx.position:
        out = out.model_copy(update={"position": ctx.position})
    return cast("SizingDecision | None", out)


def no_action(ctx: StrategyContext, reason: str, *, binding: str = "none", target: float | None = None) -> SizingDecision:
    """A 'nothing to do' decision that still says why (logged and stored like any other)."""
    health = ctx.health if math.isfinite(ctx.health) else None
    return SizingDecision(position=ctx.position, action="none", health_before=health, projected_health=health,
                          target_health=target, binding_constraint=binding, reason=reason,
                          block_number=ctx.block_number)


__all__ = [
    "INTERFACE_VERSION",
    "LoadedAutomation",
    "LoadedStrategy",
    "PeerView",
    "StrategyConfig",
    "StrategyContext",
    "StrategyError",
    "armed_automations",
    "available_strategies",
    "call_decide",
    "load_module",
    "load_strategy",
    "no_action",
]
