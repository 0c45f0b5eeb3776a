"""Regression (issue 15): ``devnet price WETH 2700`` then ``2400`` reverted when a pool's price had left
all of its liquidity (a swap entirely within a zero-liquidity region reverts in SwapRouter)."""

from __future__ import annotations

from manager.devnet.deploy import sqrt_price_x96


def _target(chain, key):
    a, b, _ = key.split("/")
    pool = chain.contract("uniswap_v3/UniswapV3Pool", chain.book["uniswap"]["pools"][key])
    s0, s1 = (a, b) if pool.functions.token0().call() == chain.book["tokens"][a] else (b, a)
    return sqrt_price_x96(chain.oracle_price(s0) / 1e8, chain.oracle_price(s1) / 1e8,
                          chain.book["decimals"][s0], chain.book["decimals"][s1])


def test_weth_up_then_down_aligns_every_pool(chain):
    for usd in (2700.0, 2400.0, 3600.0, 1500.0):
        moved = chain.set_price("WETH", usd)["pools"]
        assert set(moved) == {k for k in chain.book["uniswap"]["pools"] if "WETH" in k.split("/")[:2]}
        for key, sqrt_price in moved.items():
            assert sqrt_price == _target(chain, key), (usd, key)
