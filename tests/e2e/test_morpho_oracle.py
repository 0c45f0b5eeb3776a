"""Oracle checks are protocol-neutral (issue 13): a Morpho Blue position whose oracle feed deviates from the DEX is
marked not fresh and is not acted upon, with no Aave market in the config (the check used to need one).

The position is the devnet's seed ``manager4`` (10 WETH / 23,000 USDC on Morpho WETH/USDC, HF ~1.19). The WETH
Chainlink feed (the Morpho oracle's ``BASE_FEED_1``) falls 5% while the Uniswap pools stay at the old price
(``arbitrage=False``): health falls below the trigger, but the feed is 500 bps from the DEX (> 300 allowed).
"""

from __future__ import annotations

import time

import pytest

from manager.config import load_config
from manager.demo.scenario import DemoPosition, environ_for, write_config
from manager.runtime.lifecycle import build_manager

pytestmark = pytest.mark.chain

MORPHO = DemoPosition("morpho-weth", "manager4", "manage", "cdp_health",
                      {"trigger_health": 1.15, "target_health": 1.4, "cooldown_s": 0}, (), (), "managed Morpho",
                      protocol="morpho-WETH-USDC")


def test_a_morpho_feed_deviating_from_the_dex_is_not_fresh_and_not_acted_upon(net, tmp_path):
    path = tmp_path / "posman.toml"
    write_config(path, net, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                 positions=(MORPHO,))
    cfg = load_config(path)
    assert not any(p.kind == "aave_v3" for p in cfg.protocols if p.name in {q.protocol for q in cfg.positions})
    manager = build_manager(cfg, environ=environ_for(net, (MORPHO,)))
    try:
        first = manager.runtime.tick()
        assert first.ok and first.positions["morpho-weth"].action == "none"
        fresh = manager.runtime.reader.read(time.time()).snapshots["morpho-weth"]
        assert fresh.oracle_fresh and fresh.oracle_issues == ()

        net.set_price("WETH", 2850, arbitrage=False)  # the feed moves, the pools do not
        data = manager.runtime.reader.read(time.time())
        snap = data.snapshots["morpho-weth"]
        assert data.oracles["WETH"].deviating and data.oracles["WETH"].deviation_bps == pytest.approx(526, rel=0.05)
        assert not snap.oracle_fresh
        assert any(i.startswith("WETH oracle deviates") for i in snap.oracle_issues), snap.oracle_issues
        assert snap.health_view().health < 1.15  # below the trigger: it would act on trusted data
        report = manager.runtime.tick()
    finally:
        manager.close()
    outcome = report.positions["morpho-weth"]
    assert (outcome.status, outcome.action) == ("skipped", "skip"), (outcome.status, outcome.reason)
    assert "oracle data not trusted" in outcome.reason and "WETH" in outcome.reason
    assert manager.repo.actions_for("morpho-weth") == []
