"""SQLModel tables of the running manager: what was seen, decided, planned, sent and alerted.

Conventions:
- Times are unix seconds (``*_s`` float columns), passed in by the caller's clock, never "now" in SQL.
- On-chain integers that can exceed 64 bits (health factor WADs up to ``2**256 - 1``, fees in wei)
  are stored as decimal strings through :class:`BigIntText`, so nothing overflows on any backend.
- Status columns are short strings validated by the repository against the ``StrEnum`` types here
  (no native DB enums: adding a status must not need a migration).
- No table has a column for a private key or a seed: only *signed* transactions are stored.

The tables live in their own metadata (``POSMAN_METADATA``), so ``create_all`` creates exactly these
tables and nothing another module happens to declare on ``SQLModel.metadata``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 1

_registry = registry()
POSMAN_METADATA = _registry.metadata


class BigIntText(TypeDecorator[int]):
    """A Python ``int`` of any size stored as its decimal string (``TEXT``); ``None`` stays NULL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"BigIntText expects an int, got {type(value).__name__} {value!r}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Any) -> int | None:
        return None if value is None else int(value)


class PlanStatus(StrEnum):
    """Life cycle of a transaction plan (see ``PLAN_TRANSITIONS`` in the repository)."""

    CREATED = "created"
    SIMULATED = "simulated"
    REFUSED = "refused"
    DRY_RUN = "dry_run"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    REVERTED = "reverted"


class TxStatus(StrEnum):
    """Life cycle of one broadcast transaction."""

    PENDING = "pending"
    INCLUDED = "included"
    REPLACED = "replaced"
    REVERTED = "reverted"
    DROPPED = "dropped"
    # not re-broadcast after a restart (its plan expired or failed re-simulation): its nonce is free for the
    # next plan; re-checked until that nonce is used - included if it was mined after all (a late broadcast),
    # dropped once another transaction took the nonce.
    RELEASED = "released"


class _Table(SQLModel, registry=_registry):
    """Base of every posman table (own registry and metadata)."""


class SnapshotRow(_Table, table=True):
    """A position's health at one block. Thinned by ``compact_snapshots``; never holds actions."""

    __tablename__ = "snapshots"
    __table_args__ = (
        UniqueConstraint("position", "block_number", name="uq_snapshots_position_block"),
        Index("ix_snapshots_position_block", "position", "block_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    position: str = Field(sa_type=String(128), description="Position name from the config.")
    protocol: str = Field(sa_type=String(32))
    account: str = Field(sa_type=String(64))
    block_number: int = Field(sa_type=BigInteger)
    block_timestamp: int = Field(sa_type=BigInteger, description="Unix seconds of the block.")
    health_factor: float = Field(description="health_factor_wad / 1e18 (for plots and ordering).")
    health_factor_wad: int = Field(sa_column=Column(BigIntText, nullable=False))
    collateral_usd: float
    debt_usd: float
    ltv_bps: int = Field(description="Weighted max loan-to-value of the collateral (bps).")
    liquidation_threshold_bps: int = Field(description="Weighted liquidation threshold (bps).")
    oracle_fresh: bool = True
    created_at_s: float


class DecisionRow(_Table, table=True):
    """What the sizing core decided for a position at a block (``SizingDecision`` as JSON)."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("position", "block_number", "digest", name="uq_decisions_position_block_digest"),
        Index("ix_decisions_position_block", "position", "block_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    position: str = Field(sa_type=String(128))
    block_number: int = Field(sa_type=BigInteger)
    action: str = Field(sa_type=String(32))
    binding_constraint: str = Field(sa_type=String(64))
    reason: str = Field(sa_type=Text)
    feasible: bool = True
    health_before: float | None = None
    projected_health: float | None = None
    notional_usd: float = 0.0
    digest: str = Field(sa_type=String(64), description="sha256 of the canonical decision JSON.")
    decision_json: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at_s: float


class PlanRow(_Table, table=True):
    """A transaction plan; ``plan_id`` is the idempotency key (see ``derive_plan_id``)."""

    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_position_created", "position", "created_at_s"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(sa_type=String(80), unique=True, index=True)
    position: str = Field(sa_type=String(128))
    action: str = Field(sa_type=String(32), default="none")
    block_number: int = Field(sa_type=BigInteger)
    decision_id: int | None = Field(default=None, foreign_key="decisions.id")
    status: str = Field(sa_type=String(16), default=PlanStatus.CREATED.value)
    steps_json: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    refusal_reason: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)
    created_at_s: float
    updated_at_s: float


class TransactionRow(_Table, table=True):
    """One signed transaction of a plan step (the raw signed bytes, never the key that signed them)."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_status", "status"),
        Index("ix_transactions_plan_step", "plan_id", "step_index"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(sa_type=String(80), foreign_key="plans.plan_id")
    step_index: int
    sender: str | None = Field(default=None, sa_type=String(64))
    nonce: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(66), unique=True)
    raw_tx_hex: str = Field(sa_type=Text)
    max_fee_per_gas_wei: int | None = Field(default=None, sa_column=Column(BigIntText, nullable=True))
    max_priority_fee_per_gas_wei: int | None = Field(
        default=None, sa_column=Column(BigIntText, nullable=True)
    )
    status: str = Field(sa_type=String(16), default=TxStatus.PENDING.value)
    block_included: int | None = Field(default=None, sa_type=BigInteger)
    gas_used: int | None = Field(default=None, sa_type=BigInteger)
    replaced_by: str | None = Field(default=None, sa_type=String(66))
    created_at_s: float
    updated_at_s: float


class AlertRow(_Table, table=True):
    """One alert episode: opened once, re-sent at most per the re-notify rule, resolved once.

    At most one *open* row (``resolved_at_s IS NULL``) exists per ``episode_key``; a later episode of the
    same condition opens a new row.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_episode",
            "episode_key",
            unique=True,
            sqlite_where=text("resolved_at_s IS NULL"),
            postgresql_where=text("resolved_at_s IS NULL"),
        ),
        Index("ix_alerts_position", "position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    episode_key: str = Field(sa_type=String(200))
    kind: str = Field(sa_type=String(32))
    severity: str = Field(sa_type=String(16))
    position: str | None = Field(default=None, sa_type=String(128))
    title: str = Field(default="", sa_type=Text)
    message: str = Field(sa_type=Text)
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    first_seen_s: float
    last_sent_s: float | None = None
    sent_count: int = 0
    channels_delivered: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    resolved_at_s: float | None = None


class RuntimeStateRow(_Table, table=True):
    """Small key/value store: last processed block, daily cap usage, schema version..."""

    __tablename__ = "runtime_state"

    key: str = Field(sa_type=String(200), primary_key=True)
    value_json: Any = Field(sa_column=Column(JSON, nullable=True))
    updated_at_s: float
