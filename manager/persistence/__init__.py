"""Persistence: SQLModel tables and the repository the runtime writes through.

Open once per process and share::

    db = Database("sqlite:///var/posman/posman.sqlite")   # or postgresql+psycopg://...
    repo = Repository(db)

Every repository write commits before it returns. See ``models`` for the tables and ``repository`` for
the operations (idempotent plan creation, status life cycles, compaction, runtime state).
"""

from manager.persistence.db import Database, DatabaseError, default_sqlite_url, parse_database_url, redact_url
from manager.persistence.models import (
    SCHEMA_VERSION,
    AlertRow,
    DecisionRow,
    PlanRow,
    PlanStatus,
    RuntimeStateRow,
    SnapshotRow,
    TransactionRow,
    TxStatus,
)
from manager.persistence.repository import (
    PLAN_TRANSITIONS,
    TX_TRANSITIONS,
    InvalidTransitionError,
    NotFoundError,
    PlanConflictError,
    RecordError,
    Repository,
    canonical_json,
    decision_digest,
    derive_plan_id,
)

__all__ = [
    "PLAN_TRANSITIONS",
    "SCHEMA_VERSION",
    "TX_TRANSITIONS",
    "AlertRow",
    "Database",
    "DatabaseError",
    "DecisionRow",
    "InvalidTransitionError",
    "NotFoundError",
    "PlanConflictError",
    "PlanRow",
    "PlanStatus",
    "RecordError",
    "Repository",
    "RuntimeStateRow",
    "SnapshotRow",
    "TransactionRow",
    "TxStatus",
    "canonical_json",
    "decision_digest",
    "default_sqlite_url",
    "derive_plan_id",
    "parse_database_url",
    "redact_url",
]
