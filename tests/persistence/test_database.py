"""Opening the database: URL validation, automatic schema, WAL, schema version, crash safety."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect

from manager.errors import ConfigError, SetupError, StopError
from manager.persistence import Database, DatabaseError, Repository, parse_database_url, redact_url
from manager.persistence.db import SCHEMA_VERSION_KEY
from manager.persistence.models import POSMAN_METADATA, SCHEMA_VERSION

EXPECTED_TABLES = ["alerts", "decisions", "plans", "runtime_state", "snapshots", "transactions"]


def test_schema_is_created_automatically_in_a_new_directory(sqlite_url):
    db = Database(sqlite_url)
    assert db.table_names() == EXPECTED_TABLES
    assert db.journal_mode() == "wal"


def test_opening_twice_keeps_data(sqlite_url, clock):
    repo = Repository(Database(sqlite_url), clock=clock)
    repo.set_last_processed_block(123)
    again = Repository(Database(sqlite_url), clock=clock)  # create_all on an existing schema
    assert again.last_processed_block() == 123


def test_newer_schema_version_is_refused(sqlite_url):
    repo = Repository(Database(sqlite_url))
    repo.set_state(SCHEMA_VERSION_KEY, SCHEMA_VERSION + 1)
    with pytest.raises(DatabaseError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        Database(sqlite_url)


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite+aiosqlite:///x.db", "oracle://h/db"])
def test_unsupported_scheme_is_a_config_error(url):
    with pytest.raises(ConfigError, match="is not supported; allowed: sqlite, postgresql\\+psycopg"):
        parse_database_url(url)


def test_unparseable_url_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot parse"):
        parse_database_url("not a url")


def test_plain_postgresql_url_means_psycopg3():
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


def test_redact_url_hides_password():
    safe = redact_url("postgresql+psycopg://alice:s3cret@db.internal/posman")
    assert "s3cret" not in safe and "alice" in safe


def test_postgresql_without_psycopg_is_a_setup_error():
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        pytest.skip("psycopg is installed")
    with pytest.raises(SetupError, match=r"posman\[postgres\]") as info:
        Database("postgresql+psycopg://alice:s3cret@127.0.0.1:1/posman")
    assert "s3cret" not in str(info.value)


def test_sqlite_path_that_cannot_be_opened_is_a_stop_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StopError, match=r"cannot create the database directory .*Not a directory"):
        Database(f"sqlite:///{blocker / 'sub' / 'posman.sqlite'}")


def test_psycopg_is_not_imported_for_sqlite(sqlite_url):
    code = (
        "import sys; from manager.persistence import Database, Repository\n"
        f"Database({sqlite_url!r})\n"
        "print(any(m.split('.')[0] in ('psycopg', 'psycopg2') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("table", sorted(POSMAN_METADATA.tables))
def test_no_column_can_hold_a_key(sqlite_url, table):
    db = Database(sqlite_url)
    columns = {c["name"] for c in inspect(db.engine).get_columns(table)}
    suspicious = {
        c for c in columns if any(w in c for w in ("key", "secret", "mnemonic", "seed", "password"))
    }
    # episode_key / key of runtime_state are identifiers, not credentials
    assert suspicious <= {"episode_key", "key"}, suspicious


def test_a_write_is_on_disk_when_the_call_returns(sqlite_url):
    """A child process writes then dies without any cleanup; the parent must see the writes."""
    code = (
        "import os\n"
        "from manager.persistence import Database, Repository\n"
        f"repo = Repository(Database({sqlite_url!r}))\n"
        "repo.create_plan('plan-crash', position='p', block_number=7, steps=[{'kind': 'repay'}])\n"
        "repo.update_plan_status('plan-crash', 'simulated')\n"
        "repo.set_last_processed_block(7)\n"
        "os._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 9, done.stderr
    repo = Repository(Database(sqlite_url))
    plan = repo.get_plan("plan-crash")
    assert plan is not None and plan.status == "simulated"
    assert repo.last_processed_block() == 7
