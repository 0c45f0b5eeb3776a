"""A dry run keeps its own database: ``[storage] dry_run_url``, default ``-dryrun`` next to ``url``."""

from __future__ import annotations

import pytest

from manager.config import parse_config
from manager.errors import ConfigError

BASE = """
[chains.c]
chain_id = 1
rpc_urls = ["http://127.0.0.1:8545"]
"""


def test_default_dry_run_database_is_next_to_the_real_one(tmp_path):
    cfg = parse_config(BASE, base_dir=tmp_path)
    assert cfg.storage.url_for(dry_run=False) == f"sqlite:///{tmp_path / 'posman.sqlite'}"
    assert cfg.storage.url_for(dry_run=True) == f"sqlite:///{tmp_path / 'posman-dryrun.sqlite'}"
    # an absolute path (its folder must exist: the hardened schema refuses a missing one)
    cfg = parse_config(f'[storage]\nurl = "sqlite:///{tmp_path / "h.db"}"\n' + BASE)
    assert cfg.storage.url_for(dry_run=True) == f"sqlite:///{tmp_path / 'h-dryrun.db'}"


def test_explicit_dry_run_url(tmp_path):
    with pytest.raises(ConfigError, match=r"storage\.dry_run_url: the folder .*/dry of the sqlite file does not exist"):
        parse_config('[storage]\ndry_run_url = "sqlite:///dry/x.sqlite"\n' + BASE, base_dir=tmp_path)
    (tmp_path / "dry").mkdir()
    cfg = parse_config('[storage]\ndry_run_url = "sqlite:///dry/x.sqlite"\n' + BASE, base_dir=tmp_path)
    assert cfg.storage.url_for(dry_run=True) == f"sqlite:///{tmp_path / 'dry' / 'x.sqlite'}"
    with pytest.raises(ConfigError, match="dry_run_url must differ from url"):
        parse_config('[storage]\nurl = "sqlite:///a.sqlite"\ndry_run_url = "sqlite:///a.sqlite"\n' + BASE)
    with pytest.raises(ConfigError, match="dry_run_url"):
        parse_config('[storage]\ndry_run_url = "mysql://x/y"\n' + BASE)


def test_postgresql_needs_an_explicit_dry_run_url():
    cfg = parse_config('[storage]\nurl = "postgresql+psycopg://u@h/db"\n' + BASE)
    with pytest.raises(ConfigError, match=r"set \[storage\] dry_run_url"):
        cfg.storage.url_for(dry_run=True)
    cfg = parse_config('[storage]\nurl = "postgresql+psycopg://u@h/db"\ndry_run_url = "postgresql+psycopg://u@h/dry"\n'
                       + BASE)
    assert cfg.storage.url_for(dry_run=True) == "postgresql+psycopg://u@h/dry"
