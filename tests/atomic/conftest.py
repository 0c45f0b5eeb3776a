"""Fixtures shared by the atomic-action tests: a fresh sqlite ``Repository`` (with a fake clock) per test for the
tests that drive the project's execution pipeline (``manager.execution.executor.Executor``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def repo(tmp_path):
    from manager.persistence import Database, Repository
    from tests.support.clock import FakeClock

    clock = FakeClock()
    db = Database(f"sqlite:///{tmp_path / 'posman.sqlite'}", clock=clock)
    yield Repository(db, clock=clock)
    db.dispose()
