"""Perps are fee-aware (issue 15): on the real chain PerpsV2 atomic orders carry a 30 % fee (SCCP-2000 /
SCCP-2082). ``perp_margin`` reads the market's fee settings with the snapshot and never sends a size cut whose
fee exceeds ``max_order_fee_bps``: it adds margin instead, and says why when it cannot act."""

from __future__ import annotations

from manager.protocols.synthetix_perps import encode as E
from manager.protocols.synthetix_perps import math as P
from strategies import perp_margin

from .conftest import WAD, read, send_steps

SCCP_2000_FEE_WAD = 3 * 10**17  # 30 %


def _pushed(net, client):
    (s,), _ = read(net, client, "ETH", ["spare1"])
    b = P.snx_exact_liquidation_price(s.market, s.position)
    net.set_price("WETH", round(b.price_usd * 1.01, 2), arbitrage=False)
    (s,), _ = read(net, client, "ETH", ["spare1"])
    return s


def _with_fee(snap, fee_wad):
    return snap.model_copy(update={"market": snap.market.model_copy(update={"taker_fee_wad": fee_wad})})


CFG = perp_margin.Config(trigger_margin_ratio=0.10, target_margin_ratio=0.20, min_health=2.0, prefer="cut_size",
                         max_add_margin_usd=50_000)


def test_the_fee_is_read_from_the_market(chain, client):
    (s,), _ = read(chain, client, "ETH", ["spare1"])
    settings = chain.book["synthetix"]
    assert s.market.taker_fee_wad > 0 or s.market.maker_fee_wad > 0, settings.keys()
    assert perp_margin.order_fee_bps(s) == max(s.market.taker_fee_wad, s.market.maker_fee_wad) / WAD * 10_000


def test_low_fee_market_cuts_size(chain, client):
    s = _pushed(chain, client)
    d = perp_margin.decide(CFG, s)
    assert d is not None and any(st.kind == "modify_size" for st in d.steps)


def test_a_30pct_fee_market_adds_margin_instead_on_chain(chain, client):
    s = _with_fee(_pushed(chain, client), SCCP_2000_FEE_WAD)
    d = perp_margin.decide(CFG, s)
    assert d is not None and d.action == "perp_add_margin", d.reason
    assert not any(st.kind == "modify_size" for st in d.steps)
    assert "order fee 3000 bps exceeds max_order_fee_bps 100" in d.reason
    send_steps(chain, s.account, E.steps_for_decision(d, s, slippage_bps=50))
    (after,), rep = read(chain, client, "ETH", ["spare1"])
    assert after.position.size_wad == s.position.size_wad  # no order was sent
    assert P.perp_metrics(after)["margin_ratio"] >= 0.195 and not rep[after.account].can_liquidate



def test_cannot_act_names_the_fee_and_the_cap(chain, client):
    s = _with_fee(_pushed(chain, client), SCCP_2000_FEE_WAD).model_copy(update={"wallet_susd_wad": 0})
    d = perp_margin.decide(CFG, s)
    assert d is not None and d.action == "none" and not d.steps
    assert d.binding_constraint == "max_order_fee_bps"
    assert "cannot act" in d.reason and "3000 bps" in d.reason and "max_order_fee_bps 100" in d.reason
    assert "wallet 0.00 sUSD" in d.reason
