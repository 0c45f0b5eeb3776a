"""The config schema (v1): strict pydantic models, one per TOML section.

Every model refuses unknown keys (``extra="forbid"``), is frozen, and validates in strict mode
(a TOML string is never coerced into a number or a boolean). Units are in the names: ``_s`` seconds,
``_bps`` basis points, ``_usd`` US dollars, ``_gwei`` gas price in gwei, ``_pips`` hundredths of a bp.

Cross-references between sections (a position's protocol, a protocol's chain, a manage-mode
position's signer) are checked by ``Config`` after the sections validate; see ``Config._cross_check``.
``docs``: ``configs/example.toml`` documents every key with its unit, default and allowed values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from manager.alerts.config import AlertsConfig
from manager.config.base import ProtocolConfigBase, Section
from manager.config.report import MISSING, located_error
from manager.config.types import (
    MULTICALL3_ADDRESS,
    Address,
    Bps,
    EnvVarName,
    Name,
    check_address,
)
from manager.protocols import registry

if TYPE_CHECKING:
    from manager.errors import ConfigError


def _base_dir(info: ValidationInfo) -> Path | None:
    ctx = info.context or {}
    base = ctx.get("base_dir")
    return Path(base) if base is not None else None


# ------------------------------------------------------------------------------------------------
# [storage]
# ------------------------------------------------------------------------------------------------
STORAGE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


class StorageConfig(Section):
    """Where the manager keeps its history (SQLAlchemy URL).

    A relative sqlite path resolves against the config file's directory. Passwords never go in the
    URL: use the ``PGPASSWORD`` environment variable or ``~/.pgpass`` for PostgreSQL.

    A dry run keeps its own database (``url_for(dry_run=True)``): ``dry_run_url`` when set, else for SQLite
    the same file name with ``-dryrun`` (``posman.sqlite`` -> ``posman-dryrun.sqlite``, same directory), so a
    dry run never mixes with real history. PostgreSQL needs an explicit ``dry_run_url``.
    """

    url: str = Field(default="sqlite:///posman.sqlite", validate_default=True)
    dry_run_url: str | None = None

    @field_validator("url", "dry_run_url")
    @classmethod
    def _check_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in STORAGE_SCHEMES:
            raise ValueError(
                "unsupported storage URL; allowed: 'sqlite:///<file>' or "
                "'postgresql+psycopg://user@host/db'"
            )
        if scheme == "sqlite":
            if not rest.startswith("/") and rest != "":
                raise ValueError("a sqlite URL is 'sqlite:///<relative file>' or 'sqlite:////<absolute file>'")
            path = rest[1:]
            if path in ("", ":memory:"):
                return value
            base = _base_dir(info)
            if path.startswith("/"):
                _check_sqlite_file(Path(path))
                return value
            if base is None:
                return value
            _check_sqlite_file((base / path).resolve())
            return f"sqlite:///{(base / path).resolve()}"
        netloc = rest.split("/", 1)[0]
        userinfo = netloc.rpartition("@")[0]
        if ":" in userinfo:
            raise ValueError(
                "the storage URL holds a password; secrets never go in the config file "
                "(use the PGPASSWORD environment variable or ~/.pgpass)"
            )
        return value

    @model_validator(mode="after")
    def _separate_dry_run(self) -> StorageConfig:
        if self.dry_run_url is not None and self.dry_run_url == self.url:
            raise ValueError("dry_run_url must differ from url: a dry run never writes to the real history")
        return self

    def url_for(self, dry_run: bool) -> str:
        """The database URL of a live run, or of a dry run (see the class docstring)."""
        if not dry_run:
            return self.url
        if self.dry_run_url is not None:
            return self.dry_run_url
        scheme, _, rest = self.url.partition("://")
        if scheme != "sqlite":
            from manager.errors import ConfigError

            raise ConfigError("a dry run keeps its own database: set [storage] dry_run_url (PostgreSQL has no "
                              "default next to url)", field="storage.dry_run_url")
        path = rest[1:]
        if path in ("", ":memory:"):
            return self.url
        p = Path(path)
        return f"sqlite:///{p.with_name(p.stem + '-dryrun' + p.suffix)}"


def _check_sqlite_file(file: Path) -> None:
    """The sqlite file's folder must exist (a typo in the path must not silently create a new folder)."""
    if file.is_dir():
        raise ValueError(f"the sqlite path {file} is a folder, not a file")
    if not file.parent.is_dir():
        raise ValueError(f"the folder {file.parent} of the sqlite file does not exist (create it, or fix the path)")


# ------------------------------------------------------------------------------------------------
# [chains.<name>]
# ------------------------------------------------------------------------------------------------
class ChainConfig(Section):
    """One EVM chain and how to reach it."""

    chain_id: int = Field(ge=1)
    rpc_urls: list[str] = Field(min_length=1, repr=False)  # NOTE: may embed API keys: never in repr/logs
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_retries: int = Field(default=3, ge=0, le=20)
    max_head_age_s: float = Field(default=120.0, gt=0, le=7 * 86_400)
    multicall: Address = MULTICALL3_ADDRESS
    multicall_kind: Literal["multicall3", "uniswap_interface"] = "multicall3"
    multicall_chunk_size: int = Field(default=500, ge=1, le=10_000)
    max_parallel_requests: int = Field(default=3, ge=1, le=16)  # multicall chunks in flight at once

    @field_validator("rpc_urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"RPC URL {mask_url(url)!r} must start with http:// or https://")
        if len(set(urls)) != len(urls):
            raise ValueError("RPC URLs must be distinct")
        return urls


def mask_url(url: str) -> str:
    """A URL fit for logs: userinfo, query and path tokens hidden (``https://***@host/***``).

    Hosted RPC endpoints often carry an API key in the userinfo, the query or the last path segment.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    netloc, _, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    masked = f"{scheme}://{netloc}"
    if path or "?" in rest:
        masked += "/***"
    return masked


# ------------------------------------------------------------------------------------------------
# [[protocols]]
# ------------------------------------------------------------------------------------------------
def _protocol_union() -> Any:
    """The discriminated union of every registered protocol's config model (``kind`` tags the entry)."""
    models = tuple(a.config_model for a in registry.adapters())
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 (a runtime tuple of models)


# Built from the registry (``manager.protocols.registry``): a protocol's config model lives in its own folder.
if TYPE_CHECKING:  # for the type checker: any protocol entry (the union is built at run time)
    ProtocolConfig = ProtocolConfigBase
else:
    ProtocolConfig = _protocol_union()
PROTOCOL_KINDS: tuple[str, ...] = registry.kinds()


def __getattr__(name: str) -> Any:
    """Compatibility: ``from manager.config.schema import AaveV3Config`` etc. finds the registered protocol config
    model of that class name (the models live in ``manager/protocols/<kind>/config.py``)."""
    for a in registry.adapters():
        if a.config_model.__name__ == name:
            return a.config_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------------
# [oracles]
# ------------------------------------------------------------------------------------------------
class OraclesConfig(Section):
    """Oracle freshness and sanity bounds."""

    default_heartbeat_s: int = Field(default=86_400, gt=0, le=30 * 86_400)
    max_deviation_bps: Bps = 300
    twap_window_s: int = Field(default=300, ge=0, le=86_400)
    heartbeats_s: dict[str, Annotated[int, Field(gt=0, le=30 * 86_400)]] = Field(default_factory=dict)

    def heartbeat_s(self, symbol: str) -> int:
        """Maximum age of an oracle answer for ``symbol``, in seconds."""
        return self.heartbeats_s.get(symbol, self.default_heartbeat_s)


# ------------------------------------------------------------------------------------------------
# [[pools]]
# ------------------------------------------------------------------------------------------------
class PoolWatchConfig(Section):
    """A Uniswap V3 pool whose depth is measured (price impact at each ``depth_bps``)."""

    protocol: Name
    token_in: str = Field(min_length=1)
    token_out: str = Field(min_length=1)
    fee_pips: int = Field(default=500, gt=0, lt=1_000_000)
    depth_bps: list[Annotated[int, Field(gt=0, le=10_000)]] = Field(
        default_factory=lambda: [10, 50, 100, 300], min_length=1
    )

    @field_validator("token_in", "token_out")
    @classmethod
    def _check_token(cls, value: str) -> str:
        if value.startswith("0x"):
            return check_address(value)
        return value

    @field_validator("depth_bps")
    @classmethod
    def _sorted_unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("depth_bps values must be distinct")
        return sorted(value)


# ------------------------------------------------------------------------------------------------
# [signers.<name>]
# ------------------------------------------------------------------------------------------------
class SignerConfig(Section):
    """Where a signing key comes from. The key itself never appears in the config file.

    Either ``key_env`` (an environment variable holding the hex private key) or ``keystore`` (an
    encrypted JSON keystore file, relative to the config file) plus ``password_env``.
    ``executor``: this signer's own ``PosmanExecutor`` contract (``posman executor deploy``), used for
    one-transaction protective actions; unset = none.
    """

    address: Address
    key_env: EnvVarName | None = None
    keystore: Annotated[Path, Field(strict=False)] | None = None
    password_env: EnvVarName | None = None
    # The signer's PosmanExecutor (``posman executor deploy``): enables the atomic path (one flash-loan
    # transaction per protective action) for its managed positions once granted.
    executor: Address | None = None
    # Below this debt (USD) a protective action takes the direct path (gas dominates); 0 = never.
    atomic_min_debt_usd: float = Field(default=0.0, ge=0)

    @field_validator("keystore")
    @classmethod
    def _resolve_keystore(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None or value.is_absolute():
            return value
        base = _base_dir(info)
        return (base / value).resolve() if base is not None else value


# ------------------------------------------------------------------------------------------------
# [limits], [runtime]
# ------------------------------------------------------------------------------------------------
class LimitsConfig(Section):
    """Hard limits the executor's policy enforces on every plan."""

    per_tx_usd: float = Field(default=100_000.0, gt=0, le=1e12)
    per_day_usd: float = Field(default=500_000.0, gt=0, le=1e12)
    # NOTE: a sale may lose at most half its value; 10000 bps (accept any price) would make every swap model
    # degenerate (no output is guaranteed) and fail every tick.
    max_slippage_bps: Annotated[int, Field(ge=0, le=5_000)] = 100
    max_fee_gwei: float = Field(default=300.0, gt=0, le=1e6)
    max_priority_fee_gwei: float = Field(default=5.0, ge=0, le=1e6)
    emergency_health: float = Field(default=1.05, ge=1.0, le=10.0)
    allowed_contracts: list[Address] = Field(default_factory=list)


class RuntimeConfig(Section):
    """The main loop."""

    poll_interval_s: float = Field(default=1.0, ge=0.01, le=3_600)
    dry_run: bool = False
    heartbeat_s: float = Field(default=60.0, gt=0, le=86_400)


# ------------------------------------------------------------------------------------------------
# [[positions]]
# ------------------------------------------------------------------------------------------------
class PositionConfig(Section):
    """One position (an account on one protocol) to watch or manage."""

    name: Name
    protocol: Name
    account: Address
    mode: Literal["watch", "manage"] = "watch"
    strategy: str = Field(default="alert_only", pattern=r"^[a-z_][a-z0-9_]*$")
    signer: Name | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    # price automations run before the strategy (``[[positions.automations]]``: ``kind`` = close_on_price,
    # trailing_stop, price_trigger or collateral_switch, optional ``id``, then the automation's parameters);
    # validated and checked for conflicts by ``manager.runtime.strategies.bind_strategies``
    automations: list[dict[str, Any]] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# the whole file
# ------------------------------------------------------------------------------------------------
class Problem(Exception):
    """One cross-check failure: where (a config path), what, and the offending value."""

    def __init__(self, loc: tuple[str | int, ...], message: str, value: Any = None) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        self.value = value


class CrossCheckFailed(ValueError):
    """Raised by ``Config``'s cross-check; the loader turns it into a located ``ConfigError``."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class Config(Section):
    """A whole posman config file. Load it with ``manager.config.load_config(path)``."""

    version: Literal[1] = 1
    storage: StorageConfig = Field(default_factory=StorageConfig)
    chains: dict[Name, ChainConfig] = Field(min_length=1)
    protocols: list[ProtocolConfig] = Field(default_factory=list)
    oracles: OraclesConfig = Field(default_factory=OraclesConfig)
    pools: list[PoolWatchConfig] = Field(default_factory=list)
    signers: dict[Name, SignerConfig] = Field(default_factory=dict)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    positions: list[PositionConfig] = Field(default_factory=list)

    _source: str = PrivateAttr("<config>")
    _locator: Any = PrivateAttr(None)  # TomlLocator of the file text, set by the loader

    # ------------------------------------------------------------------ where things are
    @property
    def source(self) -> str:
        """The file this config was loaded from (``"<config>"`` when built in code)."""
        return self._source

    def locate(self, loc: Sequence[str | int]) -> int | None:
        """Line (1-based) of the key at ``loc`` in the file, or of its nearest enclosing table.

        ``cfg.locate(("positions", 0, "params", "target"))`` -> the line of ``target`` in the first
        ``[[positions]]``'s ``[positions.params]``; None when not loaded from a file.
        """
        return self._locator.line_of(tuple(loc)) if self._locator is not None else None

    def error(self, loc: Sequence[str | int], message: str, value: Any = MISSING) -> ConfigError:
        """A one-line ``ConfigError`` pointing at ``loc`` (``file:line: path: message; got value``).

        For checks made after loading (unknown strategy, params refused by a strategy's model).
        Returns the error; the caller raises it.
        """
        return located_error(self._source, self.locate(loc), loc, message, value)

    @model_validator(mode="before")
    @classmethod
    def _default_storage(cls, data: Any) -> Any:
        # NOTE: validate [storage] even when absent, so the default sqlite file resolves against the
        # config file's directory like an explicit one.
        if isinstance(data, dict) and "storage" not in data:
            data = {**data, "storage": {}}
        return data

    # ------------------------------------------------------------------ cross-references
    @model_validator(mode="after")
    def _cross_check(self) -> Config:
        problems: list[Problem] = []
        chains = sorted(self.chains)

        seen: dict[str, int] = {}
        for i, proto in enumerate(self.protocols):
            if proto.name in seen:
                problems.append(Problem(("protocols", i, "name"),
                                        f"duplicate protocol name (also protocols[{seen[proto.name]}])", proto.name))
            seen.setdefault(proto.name, i)
            if proto.chain not in self.chains:
                problems.append(Problem(("protocols", i, "chain"), f"unknown chain{_known(proto.chain, chains)}",
                                        proto.chain))
        protocols = {p.name: p for p in self.protocols}

        for i, pool in enumerate(self.pools):
            pool_proto = protocols.get(pool.protocol)
            if pool_proto is None:
                problems.append(Problem(("pools", i, "protocol"), f"unknown protocol{_known(pool.protocol, protocols)}",
                                        pool.protocol))
            elif pool_proto.kind not in _venue_kinds():
                problems.append(Problem(("pools", i, "protocol"),
                                        f"pool depth needs a {' or '.join(_venue_kinds())} protocol, "
                                        f"'{pool.protocol}' is {pool_proto.kind}", pool.protocol))
            if pool.token_in == pool.token_out:
                problems.append(Problem(("pools", i, "token_out"), "token_out equals token_in", pool.token_out))

        for name, signer in self.signers.items():
            if (signer.key_env is None) == (signer.keystore is None):
                problems.append(Problem(("signers", name),
                                        "a signer needs exactly one of key_env or keystore (+ password_env)"))
            elif signer.keystore is not None and signer.password_env is None:
                problems.append(Problem(("signers", name, "keystore"), "keystore needs password_env as well",
                                        str(signer.keystore)))
            elif signer.key_env is not None and signer.password_env is not None:
                problems.append(Problem(("signers", name, "password_env"),
                                        "password_env only goes with keystore, not with key_env", signer.password_env))

        seen = {}
        for i, pos in enumerate(self.positions):
            if pos.name in seen:
                problems.append(Problem(("positions", i, "name"),
                                        f"duplicate position name (also positions[{seen[pos.name]}])", pos.name))
            seen.setdefault(pos.name, i)
            if pos.protocol not in protocols:
                problems.append(Problem(("positions", i, "protocol"),
                                        f"unknown protocol{_known(pos.protocol, protocols)}", pos.protocol))
            if pos.mode == "manage" and pos.signer is None:
                problems.append(Problem(("positions", i, "mode"),
                                        "mode 'manage' needs a signer (add signer = \"<name>\" to this position)",
                                        pos.mode))
            if pos.signer is not None and pos.signer not in self.signers:
                problems.append(Problem(("positions", i, "signer"),
                                        f"unknown signer{_known(pos.signer, self.signers)}", pos.signer))
            elif pos.mode == "manage" and pos.signer is not None \
                    and self.signers[pos.signer].address.lower() != pos.account.lower():
                # NOTE: every action (withdraw, borrow, repay on behalf, transfer margin) is sent from the
                # position's own account; a different key could only fail in simulation, tick after tick.
                problems.append(Problem(("positions", i, "signer"),
                                        f"signer '{pos.signer}' controls {self.signers[pos.signer].address}, not this "
                                        f"position's account {pos.account}", pos.signer))

        positions = [p.name for p in self.positions]
        for name in self.alerts.rules.health_overrides:
            if name not in positions:
                problems.append(Problem(("alerts", "rules", "health_overrides", name),
                                        f"no position named '{name}'{_known(name, positions)}"))

        if self.limits.max_priority_fee_gwei > self.limits.max_fee_gwei:
            problems.append(Problem(("limits", "max_priority_fee_gwei"),
                                    f"must not exceed max_fee_gwei ({self.limits.max_fee_gwei:g})",
                                    self.limits.max_priority_fee_gwei))
        if self.limits.per_day_usd < self.limits.per_tx_usd:
            problems.append(Problem(("limits", "per_day_usd"),
                                    f"must be at least per_tx_usd ({self.limits.per_tx_usd:g})",
                                    self.limits.per_day_usd))
        for name, chain in self.chains.items():
            if chain.multicall_kind == "uniswap_interface" and chain.multicall == MULTICALL3_ADDRESS:
                problems.append(Problem(("chains", name, "multicall"),
                                        "multicall_kind 'uniswap_interface' needs the address of the deployed "
                                        "UniswapInterfaceMulticall in multicall", chain.multicall))
        if problems:
            raise CrossCheckFailed(problems)
        return self

    # ------------------------------------------------------------------ lookups
    def protocol(self, name: str) -> Any:
        """The ``[[protocols]]`` entry named ``name`` (its model is its adapter's ``config_model``)."""
        for proto in self.protocols:
            if proto.name == name:
                return proto
        raise KeyError(name)

    def chain_of(self, protocol_name: str) -> ChainConfig:
        """The chain a protocol entry lives on."""
        return self.chains[self.protocol(protocol_name).chain]

    def position(self, name: str) -> PositionConfig:
        for pos in self.positions:
            if pos.name == name:
                return pos
        raise KeyError(name)

    def allowed_contracts(self, chain: str) -> list[str]:
        """Every contract address configured for ``chain`` plus ``limits.allowed_contracts``."""
        out: list[str] = []
        for proto in self.protocols:
            if proto.chain == chain:
                out.extend(proto.contracts())
        out.extend(self.limits.allowed_contracts)
        return list(dict.fromkeys(out))


def _venue_kinds() -> list[str]:
    """The kinds of the registered swap venues (what ``[[pools]]`` depth is measured on)."""
    return [a.kind for a in registry.adapters("venue")]


def refresh_protocols() -> None:
    """Rebuild ``ProtocolConfig``, ``PROTOCOL_KINDS`` and ``Config``'s ``protocols`` field from the registry
    (``registry.register`` calls it: an adapter registered at run time is parsed like a built-in one)."""
    global ProtocolConfig, PROTOCOL_KINDS
    ProtocolConfig = _protocol_union()
    PROTOCOL_KINDS = registry.kinds()
    Config.model_fields["protocols"].annotation = list[ProtocolConfig]  # type: ignore[valid-type]
    Config.model_rebuild(force=True)
    import sys

    loader = sys.modules.get("manager.config.loader")
    if loader is not None:
        loader.PROTOCOL_KINDS = PROTOCOL_KINDS  # type: ignore[attr-defined]


def _known(value: str, names: Any) -> str:
    import difflib

    names = sorted(names)
    close = difflib.get_close_matches(value, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(f"'{n}'" for n in names) if names else "none defined"
    return f" (known: {listed}){hint}"
