"""Pool depth of a tick (``TickReader.depth``) on the devnet's real Uniswap V3 pools: every pool's read plan in ONE
batched read, with the same curves as reading each pool alone (``UniswapV3Adapter.pool_curve``)."""

from __future__ import annotations

import pytest

from manager.chain import batch
from manager.chain.batch import run_plans
from manager.chain.client import ChainClient
from manager.config.loader import parse_config
from manager.devnet.cli import render_config
from manager.protocols import registry
from manager.protocols.base import NoPool
from manager.sizing.venues import compose_curves
from manager.watchers.tick import TickData, TickReader

K_BPS = (10, 50, 100, 300)
MISSING_TIER = 10000  # no devnet pool uses the 1 % tier


@pytest.fixture(scope="module")
def setup(devnet, tmp_path_factory):
    folder = tmp_path_factory.mktemp("depth")
    text = render_config(devnet.info(), folder)
    text += ('\n[[pools]]\nprotocol = "uniswap"\ntoken_in = "WETH"\ntoken_out = "USDC"\n'
             f"fee_pips = {MISSING_TIER}\ndepth_bps = [10, 50, 100, 300]\n")
    cfg = parse_config(text, source="devnet.toml", base_dir=folder)
    client = ChainClient.from_config(cfg, "devnet").connect()
    reader = TickReader(cfg, clients={"devnet": client})
    venue_proto = next(p for p in cfg.protocols if p.kind == "uniswap_v3")
    return cfg, client, reader, venue_proto


def _tick(devnet) -> TickData:
    block = devnet.w3.eth.get_block("latest")
    return TickData(block_number=block["number"], block_timestamp=block["timestamp"], snapshots={}, oracles={},
                    tokens=dict(devnet.book["tokens"]))


def _one_by_one(cfg, client, venue_proto, tick, sym_a, sym_b):
    """Today's curves of a pair, each pool read alone: every configured fee tier, deepest first."""
    venue = registry.adapter_of(venue_proto)
    a, b = tick.tokens[sym_a], tick.tokens[sym_b]
    found = []
    for fee in dict.fromkeys(p.fee_pips for p in cfg.pools if {p.token_in, p.token_out} == {sym_a, sym_b}):
        depth_bps = next(p.depth_bps for p in cfg.pools if {p.token_in, p.token_out} == {sym_a, sym_b}
                         and p.fee_pips == fee)
        try:
            found.append(venue.pool_curve(client, venue_proto, a, b, fee, tick.block_number,
                                          sorted(set(K_BPS) | set(depth_bps))))
        except NoPool:
            continue
    found = [c for c in found if c.points]
    return sorted(found, key=lambda c: -max(c.depth_at_bps.values(), default=0))


def test_batched_depth_equals_each_pool_read_alone(devnet, setup, monkeypatch):
    cfg, client, reader, venue_proto = setup
    tick = _tick(devnet)
    pairs = sorted({(p.token_in, p.token_out) for p in cfg.pools} | {(p.token_out, p.token_in) for p in cfg.pools})

    rounds = []
    real = batch.execute_chunks

    def counting(client_, calls, block_number, **kw):
        rounds.append((len(calls), block_number))
        return real(client_, calls, block_number, **kw)

    monkeypatch.setattr(batch, "execute_chunks", counting)
    got = reader.depth(tick, pairs, k_bps=K_BPS)
    monkeypatch.undo()
    # ONE batched read: getPool, then header + tokens + bitmap, then ticks - whatever the number of pools
    assert [b for _n, b in rounds] == [tick.block_number] * 3
    assert rounds[0][0] == 2 * len({(frozenset((p.token_in, p.token_out)), p.fee_pips) for p in cfg.pools}) * 2

    assert set(got) == set(pairs)
    for sym_in, sym_out in pairs:
        direct = _one_by_one(cfg, client, venue_proto, tick, sym_in, sym_out)
        routes = []
        for mid in reader._middles(sym_in, sym_out):
            first = _one_by_one(cfg, client, venue_proto, tick, sym_in, mid)
            second = _one_by_one(cfg, client, venue_proto, tick, mid, sym_out)
            if first and second:
                route = compose_curves(first[0], second[0])
                if route.points:
                    routes.append(route)
        expected = direct + routes
        venues = got[(sym_in, sym_out)]
        venues = venues if isinstance(venues, tuple) else (venues,)
        assert len(venues) == len(expected), (sym_in, sym_out)
        for curve, want in zip(venues, expected, strict=True):
            assert curve.points == want.points
            assert curve.depth_at_bps == want.depth_at_bps
            assert curve == want


def test_a_missing_fee_tier_is_skipped_alone(devnet, setup):
    _cfg, client, reader, venue_proto = setup
    tick = _tick(devnet)
    venue = registry.adapter_of(venue_proto)
    weth, usdc = tick.tokens["WETH"], tick.tokens["USDC"]
    with pytest.raises(NoPool):
        venue.pool_curve(client, venue_proto, weth, usdc, MISSING_TIER, tick.block_number, K_BPS)

    # the pair has the 5-pip pool and the missing 1 % tier: only the first is there, as read alone
    got = reader.depth(tick, [("WETH", "USDC")], k_bps=K_BPS)["WETH", "USDC"]
    curves = got if isinstance(got, tuple) else (got,)
    alone = venue.pool_curve(client, venue_proto, weth, usdc, 500, tick.block_number, K_BPS)
    assert curves[0] == alone
    assert not any(c.pool.lower() == "0x" + "00" * 20 for c in curves)

    # in one run_plans, the missing tier's plan fails alone (NoPool raised: the tick reader records it)
    from manager.watchers.tick import _no_pool_as_value
    done = run_plans(client, {
        fee: _no_pool_as_value(venue.pool_curve_plan(venue_proto, weth, usdc, fee, tick.block_number, K_BPS))
        for fee in (500, MISSING_TIER)}, tick.block_number)
    assert isinstance(done[MISSING_TIER], NoPool)
    assert done[500] == alone
