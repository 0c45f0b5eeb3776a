"""Regression (issue 15): the perp "to liq." distance is the move *against* the position; a liquidatable
long showed 35.3% (``abs(px - liq)``)."""

from __future__ import annotations

import pytest

from manager.protocols.synthetix_perps import math as P
from manager.protocols.synthetix_perps.status import perp_distance_pct, perp_status_row

from .conftest import read


def test_long_distance_shrinks_to_zero_when_liquidatable(chain, client):
    net = chain
    (s,), _ = read(net, client, "ETH", ["spare1"])  # long 10 ETH
    b = P.snx_exact_liquidation_price(s.market, s.position, s.block_timestamp)
    row = perp_status_row(s)
    px = row["price_usd"]
    assert b.price_usd < px
    assert row["distance_to_liquidation_pct"] == pytest.approx((px - b.price_usd) / px * 100, rel=1e-3)
    # the price falls below the long's liquidation price: liquidatable, 0% to go
    net.set_price("WETH", round(b.price_usd * 0.8, 2), arbitrage=False)
    (s2,), rep = read(net, client, "ETH", ["spare1"])
    assert rep[s2.account].can_liquidate
    assert perp_status_row(s2)["distance_to_liquidation_pct"] == 0.0


def test_short_distance_is_a_rise():
    assert perp_distance_pct(-10, 2000.0, 2500.0, 1.8) == pytest.approx(25.0)
    assert perp_distance_pct(-10, 2600.0, 2500.0, 1.2) == 0.0  # price already above a short's liq price
    assert perp_distance_pct(10, 1500.0, 2000.0, 1.3) == 0.0  # below a long's liq price
    assert perp_distance_pct(10, 2000.0, 1500.0, 0.9) == 0.0  # health <= 1
    assert perp_distance_pct(0, 2000.0, 1500.0, None) is None
