"""Open the manager's database: an SQLite file by default, PostgreSQL by URL.

``Database(url)`` validates the URL, creates the engine, turns on WAL and full fsync for SQLite, creates
the schema (``create_all``: safe on every start) and checks the stored schema version. ``unit_of_work()``
is the one way to get a session: it commits before returning, so a write is on disk when the caller's
function returns, and it rolls back on any exception.

``Database.open_read_only(url)`` opens an existing database for reports (``posman history``): it creates
no file, directory or table, and refuses writes; a missing SQLite file is ``MissingDatabaseError``.

PostgreSQL needs the optional ``postgres`` extra (psycopg 3); nothing imports it unless such a URL is used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session

from manager.errors import ConfigError, SetupError, StopError
from manager.persistence.models import POSMAN_METADATA, SCHEMA_VERSION, RuntimeStateRow

log = logging.getLogger("posman.persistence")

ALLOWED_SCHEMES = ("sqlite", "postgresql+psycopg")
SCHEMA_VERSION_KEY = "schema_version"
SQLITE_BUSY_TIMEOUT_MS = 5_000


class DatabaseError(StopError):
    """The database cannot be opened or has a schema this version does not understand."""


class MissingDatabaseError(DatabaseError):
    """A read-only open found no SQLite file at ``path`` (nothing has been recorded yet)."""

    path: str


def default_sqlite_url(data_dir: str | Path) -> str:
    """``sqlite:///<data_dir>/posman.sqlite`` (the default database location)."""
    return f"sqlite:///{Path(data_dir).expanduser() / 'posman.sqlite'}"


def parse_database_url(url: str) -> URL:
    """Validate ``url`` and return it normalized (``postgresql://`` means psycopg 3)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database url: cannot parse {redact_url(url)!r}; expected sqlite:///path/posman.sqlite "
            "or postgresql+psycopg://user@host/db",
            field="database_url",
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ALLOWED_SCHEMES:
        raise ConfigError(
            f"database url: scheme {parsed.drivername!r} is not supported; allowed: {', '.join(ALLOWED_SCHEMES)}",
            field="database_url",
            value=parsed.drivername,
        )
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***`` (safe to log)."""
    try:
        return (make_url(url) if isinstance(url, str) else url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable url>"


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # NOTE: in WAL mode synchronous=NORMAL may lose the last commits on power loss; a submitted
        # transaction that is not on disk could be sent twice after a crash, so we pay for FULL.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_read_only_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


class Database:
    """An opened posman database. Cheap to share; create one per process."""

    def __init__(self, url: str, *, echo: bool = False, clock: Any = time.time) -> None:
        self.url = parse_database_url(url)
        self.safe_url = redact_url(self.url)
        self._clock = clock
        self.engine = self._create_engine(echo)
        self.create_schema()

    @classmethod
    def open_read_only(cls, url: str, *, echo: bool = False) -> Database:
        """An existing database opened for reading only: nothing is created, writes fail.

        ``MissingDatabaseError`` when the SQLite file does not exist; ``DatabaseError`` when it has no posman
        schema or a newer one.
        """
        self = cls.__new__(cls)
        self.url = parse_database_url(url)
        self.safe_url = redact_url(self.url)
        self._clock = time.time
        if self.is_sqlite:
            database = self.url.database or ""
            if not database or database == ":memory:" or database.startswith("file:"):
                raise DatabaseError(f"database {self.safe_url} cannot be opened read-only (not a file path)",
                                    url=self.safe_url)
            path = Path(database).expanduser()
            if not path.is_file():
                raise MissingDatabaseError(f"database {path} does not exist", path=str(path))
            # NOTE: mode=ro makes SQLite refuse to create the file; query_only refuses writes on top.
            self.engine = create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true", echo=echo)
            event.listen(self.engine, "connect", _sqlite_read_only_on_connect)
        else:
            self.engine = self._create_engine(echo)  # NOTE: no create_schema: reads only
        try:
            with self.engine.connect() as conn:
                version = conn.exec_driver_sql(
                    f"SELECT value_json FROM {RuntimeStateRow.__tablename__} WHERE key = '{SCHEMA_VERSION_KEY}'"
                ).scalar()
        except OperationalError as exc:
            self.engine.dispose()
            raise DatabaseError(f"cannot read database {self.safe_url}: {' '.join(str(exc.orig).split())}",
                                url=self.safe_url) from exc
        except Exception as exc:  # e.g. PostgreSQL: relation does not exist
            self.engine.dispose()
            raise DatabaseError(f"cannot read database {self.safe_url}: {' '.join(str(exc).split())[:200]}",
                                url=self.safe_url) from exc
        try:
            self._check_schema_version(version, "upgrade posman")
        except DatabaseError:
            self.engine.dispose()
            raise
        return self

    def _check_schema_version(self, found: Any, remedy: str) -> None:
        """``DatabaseError`` when the stored schema version ``found`` is newer than this code's."""
        if found is not None and int(found) > SCHEMA_VERSION:
            raise DatabaseError(
                f"database {self.safe_url} has schema version {found}, newer than this posman's "
                f"{SCHEMA_VERSION}; {remedy}",
                url=self.safe_url,
                found=found,
                supported=SCHEMA_VERSION,
            )

    @property
    def is_sqlite(self) -> bool:
        return self.url.drivername == "sqlite"

    def _create_engine(self, echo: bool) -> Engine:
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                parent = Path(database).expanduser().parent
                if not parent.exists():
                    try:
                        parent.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise DatabaseError(
                            f"cannot create the database directory {parent}: {exc.strerror}",
                            path=str(parent),
                        ) from exc
                    log.info("event=db_dir_created path=%s", parent)
            engine = create_engine(self.url, echo=echo)
            event.listen(engine, "connect", _sqlite_on_connect)
            return engine
        try:
            return create_engine(self.url, echo=echo, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise SetupError(
                f"database url {self.safe_url} needs psycopg 3, which is not installed; "
                "install the optional extra: pip install 'posman[postgres]'",
                field="database_url",
            ) from exc

    def create_schema(self) -> None:
        """Create missing tables (idempotent) and check/record the schema version."""
        try:
            POSMAN_METADATA.create_all(self.engine)
        except OperationalError as exc:
            raise DatabaseError(
                f"cannot open database {self.safe_url}: {' '.join(str(exc.orig).split())}",
                url=self.safe_url,
            ) from exc
        with self.unit_of_work() as session:
            row = session.get(RuntimeStateRow, SCHEMA_VERSION_KEY)
            if row is None:
                session.add(
                    RuntimeStateRow(
                        key=SCHEMA_VERSION_KEY, value_json=SCHEMA_VERSION, updated_at_s=self._clock()
                    )
                )
            else:
                self._check_schema_version(row.value_json, "upgrade posman or point it at another database")
        log.info("event=db_ready url=%s schema_version=%d", self.safe_url, SCHEMA_VERSION)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session that commits on normal exit and rolls back on an exception.

        Objects stay readable after the block (``expire_on_commit=False``); they are detached copies:
        changing them changes nothing in the database.
        """
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def table_names(self) -> list[str]:
        """Names of the posman tables present in the database."""
        from sqlalchemy import inspect

        return sorted(set(inspect(self.engine).get_table_names()) & set(POSMAN_METADATA.tables))

    def journal_mode(self) -> str | None:
        """SQLite journal mode (``wal`` expected); ``None`` on other backends."""
        if not self.is_sqlite:
            return None
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())

    def dispose(self) -> None:
        """Close pooled connections (call on shutdown)."""
        self.engine.dispose()


__all__ = [
    "ALLOWED_SCHEMES",
    "Database",
    "DatabaseError",
    "MissingDatabaseError",
    "default_sqlite_url",
    "parse_database_url",
    "redact_url",
]
