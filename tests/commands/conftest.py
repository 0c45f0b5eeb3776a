"""Fixtures for the CLI command tests: one devnet stamped with the wall clock per session of this folder."""

from __future__ import annotations

import pytest

from manager.devnet.cli import render_config
from manager.devnet.net import Devnet


@pytest.fixture(scope="package")
def live(tmp_path_factory):
    """A devnet stamped with the wall clock (fresh head and feeds), as `posman devnet up` makes it."""
    d = tmp_path_factory.mktemp("status")
    with Devnet.start(time_mode="now") as net:
        info = net.info()
        (d / "devnet.toml").write_text(render_config(info, d))
        yield net, d, info


