"""Hedged view on the devnet: alice's Aave ETH collateral (10 WETH, 12k USDC debt) with her 5 ETH PerpsV2 short."""

from __future__ import annotations

import pytest

from manager.protocols.aave_v3.math import health_factor
from manager.protocols.aave_v3.reads import read_accounts, read_market
from manager.protocols.synthetix_perps import math as P
from manager.sizing.hedge import hedged_view

from .conftest import read


def test_lending_hedged_with_perp(devnet, client):
    blk = devnet.w3.eth.block_number
    market = read_market(client, devnet.book["aave"]["pool_addresses_provider"], blk)
    (lend,), errors = read_accounts(client, market, [devnet.address("alice")])
    assert not errors
    (perp,), _ = read(devnet, client, "ETH", ["alice"], block=blk)
    v = hedged_view(lend, perp, sigma=0.8, horizon=1 / 365)
    assert v.underlying == "ETH"
    assert v.lending_exposure_usd["ETH"] == pytest.approx(30_000, rel=1e-3)  # 10 WETH at 3000
    assert v.perp_exposure_usd == pytest.approx(-15_000, rel=1e-6)
    assert v.exposure_usd["ETH"] == pytest.approx(15_000, rel=1e-3)  # half hedged
    assert v.hedge_ratio == pytest.approx(0.5, rel=1e-3)
    assert v.lending_health == pytest.approx(health_factor(lend), rel=1e-3)
    assert v.equity_usd == pytest.approx(v.lending_equity_usd + v.perp_equity_usd)
    # a fall liquidates the Aave leg first, a rise liquidates the short
    assert v.binding_leg_down == "lending" and v.binding_leg_up == "perp"
    b = P.snx_exact_liquidation_price(perp.market, perp.position)
    assert 1 + v.liquidation_move_up == pytest.approx(b.price_usd / 3000, rel=1e-6)
    assert v.var_usd is not None and v.var_usd > 0 and v.es_usd >= v.var_usd
    # the hedge halves the one-factor VaR of the unhedged collateral
    unhedged = hedged_view(lend, perp.model_copy(update={"position": perp.position.model_copy(update={"size_wad": 0})}),
                           sigma=0.8, horizon=1 / 365)
    assert v.var_usd == pytest.approx(unhedged.var_usd / 2, rel=0.02)
