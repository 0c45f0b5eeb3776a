"""Margin transfer, size change and close on the real PerpsV2 contracts (encoded steps, exact results),
and the manager's de-risking: a long pushed toward liquidation is brought back into its band on-chain
before it can be liquidated (by adding margin, and by cutting size)."""

from __future__ import annotations

from manager.protocols.synthetix_perps import encode as E
from manager.protocols.synthetix_perps import math as P
from strategies import perp_margin

from .conftest import WAD, read, send_steps


def _next_ts(net) -> int:
    ts = net.w3.eth.get_block("latest")["timestamp"] + 3
    net.node.call("evm_setNextBlockTimestamp", [ts])
    return ts


def test_transfer_margin_in_and_out_exact(chain, client):
    net = chain
    (s0,), _ = read(net, client, "ETH", ["spare1"])
    ts = _next_ts(net)
    expected = P.snx_margin_plus_profit_funding_wad(s0.market, s0.position, s0.market.price_wad, ts) + 1000 * WAD
    send_steps(net, s0.account, [E.transfer_margin(s0.market_address, 1000 * WAD)])
    (s1,), _ = read(net, client, "ETH", ["spare1"])
    assert s1.position.margin_wad == expected
    assert s1.wallet_susd_wad == s0.wallet_susd_wad - 1000 * WAD
    send_steps(net, s0.account, [E.transfer_margin(s0.market_address, -500 * WAD)])
    (s2,), _ = read(net, client, "ETH", ["spare1"])
    assert s2.wallet_susd_wad == s1.wallet_susd_wad + 500 * WAD
    assert s2.position.size_wad == s0.position.size_wad


def test_reduce_increase_and_close(chain, client):
    net = chain
    (s0,), _ = read(net, client, "ETH", ["alice"])  # short 5 ETH
    m = s0.market
    # reduce the short by 2 ETH: fill at the exact PerpsV2 fill price
    delta = 2 * WAD
    fill = E.fill_price_wad(m, delta)
    send_steps(net, s0.account, [E.modify_position(s0.market_address, delta, E.desired_fill_price_wad(m, delta, 30))])
    (s1,), _ = read(net, client, "ETH", ["alice"])
    assert s1.position.size_wad == s0.position.size_wad + delta
    assert s1.position.last_price_wad == fill
    # increase it by 1 ETH
    send_steps(net, s0.account, [E.modify_position(s0.market_address, -WAD,
                                                   E.desired_fill_price_wad(s1.market, -WAD, 30))])
    (s2,), _ = read(net, client, "ETH", ["alice"])
    assert s2.position.size_wad == -4 * WAD
    # a too-tight desired fill price is refused by the contract (the bound protects us)
    tight = E.fill_price_wad(s2.market, -WAD) + 10**12
    try:
        send_steps(net, s0.account, [E.modify_position(s0.market_address, -WAD, tight)])
        raise AssertionError("expected a revert")
    except Exception as exc:  # web3 raises on the failed gas estimation / revert
        assert "Price impact" in str(exc) or "revert" in str(exc).lower()
    # close
    send_steps(net, s0.account, [E.close_position(s0.market_address,
                                                  E.desired_fill_price_wad(s2.market, 4 * WAD, 30))])
    (s3,), _ = read(net, client, "ETH", ["alice"])
    assert s3.position.size_wad == 0
    assert s3.position.margin_wad > 0  # margin stays until withdrawn
    send_steps(net, s0.account, [E.withdraw_all_margin(s0.market_address)])
    (s4,), _ = read(net, client, "ETH", ["alice"])
    assert s4.position.margin_wad == 0 and s4.wallet_susd_wad > s3.wallet_susd_wad


def _push_toward_liquidation(net, client, name):
    """Move ETH to 1% above the long's exact boundary: not yet liquidatable, deep below its band."""
    (s,), _ = read(net, client, "ETH", [name])
    b = P.snx_exact_liquidation_price(s.market, s.position)
    net.set_price("WETH", round(b.price_usd * 1.01, 2), arbitrage=False)
    (s,), rep = read(net, client, "ETH", [name])
    assert not rep[s.account].can_liquidate
    return s, b


def _derisk(net, client, prefer):
    s, b_before = _push_toward_liquidation(net, client, "spare1")
    cfg = perp_margin.Config(trigger_margin_ratio=0.10, target_margin_ratio=0.20, min_health=2.0, prefer=prefer,
                             max_add_margin_usd=50_000)
    assert P.perp_metrics(s)["margin_ratio"] < 0.10
    d = perp_margin.decide(cfg, s)
    assert d is not None and d.feasible
    send_steps(net, s.account, E.steps_for_decision(d, s, slippage_bps=50))
    (after,), rep = read(net, client, "ETH", ["spare1"])
    met = P.perp_metrics(after)
    assert 0.195 <= met["margin_ratio"] <= 0.26, met  # back in band (target 0.20)
    assert met["health"] > 2.0 and not rep[after.account].can_liquidate
    # the price that would have liquidated the old position no longer does
    old_liq = int(b_before.price_usd * 0.999 * 1e8) * 10**10
    assert not P.snx_can_liquidate(after.market, after.position, old_liq, after.block_timestamp)
    assert perp_margin.decide(cfg, after) is None  # in band: nothing more to do
    return d, s, after


def test_derisk_by_adding_margin_onchain(chain, client):
    d, before, after = _derisk(chain, client, "add_margin")
    assert d.action == "perp_add_margin" and "margin_susd" in d.deltas_wei
    assert after.position.size_wad == before.position.size_wad


def test_derisk_by_cutting_size_onchain(chain, client):
    d, before, after = _derisk(chain, client, "cut_size")
    assert d.action == "perp_reduce"
    assert 0 < after.position.size_wad < before.position.size_wad
