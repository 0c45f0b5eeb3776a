"""PosmanExecutor on the devnet's real Aave V3 (v3.0) + Uniswap V3: one-transaction deleverage, boost and close."""

from __future__ import annotations

import pytest

from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18


def test_deleverage_in_one_transaction_lands_at_the_planned_health(chain):
    net = chain
    carol = net.address("carol")
    executor = H.executor_of(net, "carol")
    flash = H.aave_flash(net)
    assert flash.premium_bps == 9  # read from the pool, the devnet's FLASHLOAN_PREMIUM_TOTAL
    hf0 = H.hf_wad(net, carol)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.5, flash)
    step = H.deleverage_aave(net, carol, "WETH", "USDC", 500, s, flash, min_hf=int(1.5 * 0.995 * WAD),
                             max_hf=int(1.5 * 1.005 * WAD))
    assert step.label == "atomic_deleverage" and step.to == executor
    nonce0 = net.w3.eth.get_transaction_count(carol)
    receipt = H.send(net, step, carol)
    assert receipt["status"] == 1
    assert net.w3.eth.get_transaction_count(carol) == nonce0 + 1  # one transaction
    hf1 = H.hf_wad(net, carol)
    assert hf0 < 1.2 * WAD
    assert abs(hf1 - s.planned_hf_wad) / s.planned_hf_wad < 1e-6, (hf1, s.planned_hf_wad)
    assert abs(hf1 / WAD / 1.5 - 1) < 0.005
    # nothing stays in the contract
    assert all(v == 0 for v in H.token_balances(net, executor).values())
