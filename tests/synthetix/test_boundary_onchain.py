"""The exact liquidation boundary against ``canLiquidate`` on the real PerpsV2 contracts, funding accrued.

A large long skews the ETH market, time passes (funding recorded by a trade, then more unrecorded
funding), and for the seeded long (spare1) and short (alice) the boundary computed from one block's
reads is probed on-chain: at -0.1% / +0.1% of it, and at the exact grid price and its neighbour.
"""

from __future__ import annotations

import pytest

from manager.devnet.synthetix import market_abi
from manager.protocols.synthetix_perps import math as P

from .conftest import WAD, issue_susd, read, rpc, set_feed_at

DAY = 86_400


def _skew_and_accrue(net, client):
    """manager4 goes long 1000 ETH (skew), 12 h pass, a trade records funding, 12 h more pass."""
    snx = net.book["synthetix"]
    whale = net.address("manager4")
    issue_susd(net, whale, 400_000 * WAD)
    mkt = net.w3.eth.contract(address=snx["markets"]["ETH"]["proxy"], abi=market_abi())
    net.transact(mkt.functions.transferMargin(300_000 * WAD), whale)
    net.transact(mkt.functions.modifyPosition(1000 * WAD, 3100 * WAD), whale)
    for _ in range(2):
        rpc(net, "evm_increaseTime", [DAY // 2])
        net.transact(net.feed("WETH").functions.updateAnswer(3000 * 10**8))  # fresh round, same price
        net.transact(mkt.functions.modifyPosition(WAD, 3100 * WAD), whale)  # records funding
    rpc(net, "evm_increaseTime", [DAY // 2])
    net.transact(net.feed("WETH").functions.updateAnswer(3000 * 10**8))
    return mkt


@pytest.mark.parametrize("name", ["spare1", "alice"])
def test_boundary_flips_can_liquidate_exactly(chain, client, name):
    net = chain
    mkt = _skew_and_accrue(net, client)
    (snap,), rep = read(net, client, "ETH", [name])
    m, pos = snap.market, snap.position
    # the emulation equals the protocol's own views at the read block, to the wei
    ts = snap.block_timestamp
    r = rep[snap.account]
    assert P.snx_remaining_margin_wad(m, pos, m.price_wad, ts) == r.remaining_margin_wad
    assert P.snx_accrued_funding_wad(m, pos, m.price_wad, ts) == r.accrued_funding_wad
    assert P.snx_approx_liquidation_price_wad(m, pos, m.price_wad, ts) == r.liquidation_price_wad
    assert r.accrued_funding_wad != 0

    t_probe = ts + 7  # the probes' block time: the boundary is computed for it (unrecorded funding grows)
    b = P.snx_exact_liquidation_price(m, pos, t_probe)
    assert b.recorded_funding_per_unit != 0 and b.unrecorded_funding_per_price != 0  # funding accrued, both parts
    assert b.price_usd is not None and b.boundary_price_wad is not None
    long = pos.size_wad > 0
    step = 10**10  # 8-decimal feed
    grid = b.boundary_price_wad // step
    probes = {  # answer -> predicted canLiquidate
        round(b.price_usd * 0.999 * 1e8): long,
        round(b.price_usd * 1.001 * 1e8): not long,
        grid: True,
        grid + (1 if long else -1): False,
    }
    acct = snap.account
    for answer, expected in probes.items():
        snap_id = net.snapshot()
        try:
            blk = set_feed_at(net, "WETH", answer, t_probe)
            assert net.w3.eth.get_block(blk)["timestamp"] == t_probe
            assert P.snx_can_liquidate(m, pos, answer * step, t_probe) is expected
            assert mkt.functions.canLiquidate(acct).call(block_identifier=blk) is expected, (name, answer, expected)
        finally:
            net.revert(snap_id)
    # the view price is only an approximation: it sits on the safe side of the exact one here
    assert abs(b.view_price_usd - b.price_usd) > 1.0
